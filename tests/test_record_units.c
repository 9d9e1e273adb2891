/* Unit tests of the recorder's parts: the marker line protocol (parse,
 * reject, format round trip), the tick grid maths (next tick after an
 * overrun, missed-tick count, jitter percentiles) and the marker channel
 * (split lines, over-long lines, datagrams, end of writers). */
#include "firmus/record.h"
#include "record/record_internal.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static fm_marker parse_ok(const char *line, int64_t receipt, int *given)
{
    fm_marker m;
    fm_error err = {0};
    int rc = fm_marker_parse_line(line, receipt, &m, given, &err);
    if (rc != FM_OK)
        print_error("unexpected parse failure of '%s': %s\n", line, err.msg);
    assert_int_equal(rc, FM_OK);
    return m;
}

static void test_parse_phase_markers(void **state)
{
    (void)state;
    int given = 0;
    fm_marker m = parse_ok("start prefill", 1000, &given);
    assert_string_equal(m.kind, "start");
    assert_string_equal(m.name, "prefill");
    assert_int_equal(m.t_ns, 1000);
    assert_int_equal(given, 0);
    assert_int_equal(m.tokens, -1);
    assert_int_equal(m.request, -1);
    assert_int_equal(m.gpu, -1);
    assert_true(isnan(m.energy_j));

    m = parse_ok("end decode tokens=128 t_ns=123456789\r", 1000, &given);
    assert_string_equal(m.kind, "end");
    assert_string_equal(m.name, "decode");
    assert_int_equal(m.tokens, 128);
    assert_int_equal(m.t_ns, 123456789);
    assert_int_equal(given, 1);

    m = parse_ok("  mark   warmup_done   gpu=1 ", 5, &given);
    assert_string_equal(m.kind, "mark");
    assert_string_equal(m.name, "warmup_done");
    assert_int_equal(m.gpu, 1);
}

static void test_parse_tokens_and_requests(void **state)
{
    (void)state;
    int given = 0;
    fm_marker m = parse_ok("tokens 32", 7, &given);
    assert_string_equal(m.kind, "tokens");
    assert_int_equal(m.tokens, 32);

    m = parse_ok("request_start 7 t_ns=99", 7, &given);
    assert_string_equal(m.kind, "request_start");
    assert_int_equal(m.request, 7);
    assert_int_equal(m.tokens, -1);
    assert_int_equal(m.t_ns, 99);

    m = parse_ok("request_end 7 tokens=128", 7, &given);
    assert_string_equal(m.kind, "request_end");
    assert_int_equal(m.request, 7);
    assert_int_equal(m.tokens, 128);
}

static void test_parse_rejects_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "begin prefill",                              /* unknown verb */
        "start",                                      /* no name */
        "end tokens=5",                               /* no name, only a field */
        "tokens",                                     /* no count */
        "tokens -3",                                  /* negative */
        "tokens 3x",                                  /* not a number */
        "request_start abc",                          /* not an id */
        "end decode tokens=12.5",                     /* not an integer */
        "end decode tokens=",                         /* empty value */
        "end decode tokns=5",                         /* unknown field */
        "start prefill extra",                        /* stray word */
        "start prefill t_ns=0",                       /* zero time */
        "start prefill t_ns=99999999999999999999999", /* overflow */
        "start "
        "a234567890123456789012345678901234567890123456789012345678901234", /* 64 chars */
        "tokens 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",                 /* too many words */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fm_marker m;
        fm_error err = {0};
        int given = 0;
        int rc = fm_marker_parse_line(bad[i], 1, &m, &given, &err);
        if (rc != FM_ERR_PARSE)
            print_error("accepted bad line '%s'\n", bad[i]);
        assert_int_equal(rc, FM_ERR_PARSE);
        assert_true(strlen(err.msg) > 0);
    }
    /* Blank lines and comments are not markers but not errors either. */
    fm_marker m;
    int given = 0;
    assert_int_equal(fm_marker_parse_line("", 1, &m, &given, NULL), 1);
    assert_int_equal(fm_marker_parse_line("   \t", 1, &m, &given, NULL), 1);
    assert_int_equal(fm_marker_parse_line("# a comment", 1, &m, &given, NULL), 1);
    /* Longer than the limit. */
    char longline[FM_MARK_LINE_MAX + 10];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    memcpy(longline, "mark ", 5);
    assert_int_equal(fm_marker_parse_line(longline, 1, &m, &given, NULL), FM_ERR_PARSE);
}

static void test_format_round_trip(void **state)
{
    (void)state;
    const char *lines[] = {
        "start prefill t_ns=42",   "end decode tokens=128 t_ns=43",  "tokens 32 t_ns=44",
        "request_start 7 t_ns=45", "request_end 7 tokens=9 t_ns=46", "mark x gpu=2 t_ns=47"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        int given = 0;
        fm_marker m = parse_ok(lines[i], 1, &given);
        char buf[256];
        int n = fm_marker_format_line(&m, 1, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal(buf[n - 1], '\n');
        buf[n - 1] = '\0';
        assert_string_equal(buf, lines[i]);
    }
    char tiny[8];
    int given = 0;
    fm_marker m = parse_ok("start prefill", 1, &given);
    assert_int_equal(fm_marker_format_line(&m, 1, tiny, sizeof tiny), -1);
}

static void test_tick_next(void **state)
{
    (void)state;
    const int64_t t0 = 1000000000, iv = 10000000; /* 10 ms */
    int64_t missed = 0;
    /* On time: the next tick. */
    assert_int_equal(fm_tick_next(t0, iv, 5, t0 + 5 * iv + 300000, &missed), 6);
    /* Finished just after tick 6's deadline, less than half an interval: run 6 late. */
    assert_int_equal(fm_tick_next(t0, iv, 5, t0 + 6 * iv + 4000000, &missed), 6);
    assert_int_equal(missed, 0);
    /* Overran to 7.3 intervals: ticks 6 and 7 are missed, 8 is next. */
    assert_int_equal(fm_tick_next(t0, iv, 5, t0 + 7 * iv + 3000000, &missed), 8);
    assert_int_equal(missed, 2);
    /* Exactly at a deadline counts as reachable. */
    missed = 0;
    assert_int_equal(fm_tick_next(t0, iv, 0, t0 + 3 * iv, &missed), 3);
    assert_int_equal(missed, 2);
}

static void test_jitter_percentiles(void **state)
{
    (void)state;
    fm_tick_stats ts;
    assert_int_equal(fm_tick_stats_init(&ts), FM_OK);
    assert_true(isnan(fm_tick_stats_percentile_us(&ts, 50)));
    /* 100 ticks: jitter 0..98 us and one of 250 ms (beyond the histogram). */
    for (int i = 0; i < 99; i++)
        fm_tick_stats_add(&ts, 1000000LL * i, 1000000LL * i + i * 1000 + 500);
    fm_tick_stats_add(&ts, 0, 250000000);
    assert_int_equal(ts.count, 100);
    assert_int_equal((int)fm_tick_stats_percentile_us(&ts, 50), 49);
    assert_int_equal((int)fm_tick_stats_percentile_us(&ts, 99), 98);
    assert_int_equal((int)fm_tick_stats_percentile_us(&ts, 100), 250000);
    assert_int_equal(ts.max_ns, 250000000);
    /* Early wake-ups count by magnitude. */
    fm_tick_stats_add(&ts, 5000, 2000);
    assert_int_equal(ts.count, 101);
    fm_tick_stats_free(&ts);
}

/* Collects the lines the channel delivers. */
typedef struct line_log {
    char lines[16][128];
    int n;
    int overlong;
} line_log;

static void log_line(void *ctx, const char *line, int overlong)
{
    line_log *log = ctx;
    if (overlong) {
        log->overlong++;
        return;
    }
    if (log->n < 16)
        snprintf(log->lines[log->n++], sizeof log->lines[0], "%s", line);
}

static void test_channel_pipe_and_socket(void **state)
{
    (void)state;
    fm_mark_channel ch;
    fm_error err = {0};
    assert_int_equal(fm_mark_channel_open(&ch, NULL, &err), FM_OK);
    line_log log = {0};

    /* A line split over two writes arrives once, whole. */
    assert_int_equal(write(ch.pipe_write_fd, "start pre", 9), 9);
    fm_mark_channel_poll(&ch, log_line, &log);
    assert_int_equal(log.n, 0);
    assert_int_equal(write(ch.pipe_write_fd, "fill\ntokens 3\n", 14), 14);
    fm_mark_channel_poll(&ch, log_line, &log);
    assert_int_equal(log.n, 2);
    assert_string_equal(log.lines[0], "start prefill");
    assert_string_equal(log.lines[1], "tokens 3");

    /* An over-long line is reported once and skipped up to its newline. */
    char big[FM_MARK_LINE_MAX + 100];
    memset(big, 'x', sizeof big);
    assert_int_equal(write(ch.pipe_write_fd, big, sizeof big), (ssize_t)sizeof big);
    assert_int_equal(write(ch.pipe_write_fd, "\nmark after\n", 12), 12);
    fm_mark_channel_poll(&ch, log_line, &log);
    assert_int_equal(log.overlong, 1);
    assert_int_equal(log.n, 3);
    assert_string_equal(log.lines[2], "mark after");

    /* A datagram with two lines, the last without its newline. */
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", ch.socket_path);
    const char *msg = "end prefill\nend decode tokens=5";
    assert_int_equal(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&addr, sizeof addr),
                     (ssize_t)strlen(msg));
    close(fd);
    fm_mark_channel_drain(&ch, log_line, &log);
    assert_int_equal(log.n, 5);
    assert_string_equal(log.lines[3], "end prefill");
    assert_string_equal(log.lines[4], "end decode tokens=5");

    /* Writers gone: a last unterminated line on the pipe still counts. */
    assert_int_equal(write(ch.pipe_write_fd, "mark last", 9), 9);
    fm_mark_channel_close_write_end(&ch);
    fm_mark_channel_poll(&ch, log_line, &log);
    assert_int_equal(log.n, 6);
    assert_string_equal(log.lines[5], "mark last");

    char path[108];
    snprintf(path, sizeof path, "%s", ch.socket_path);
    fm_mark_channel_close(&ch);
    assert_int_equal(access(path, F_OK), -1); /* socket and its directory removed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_phase_markers),
        cmocka_unit_test(test_parse_tokens_and_requests),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_tick_next),
        cmocka_unit_test(test_jitter_percentiles),
        cmocka_unit_test(test_channel_pipe_and_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
