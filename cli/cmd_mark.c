/* firmus mark — sends one marker line (docs/MARKERS.md) to the recorder
 * that started this process: to the inherited pipe named by FIRMUS_MARK_FD
 * (if that descriptor is a pipe here), else to the UNIX datagram socket
 * named by FIRMUS_MARK_SOCKET. The line
 * carries this process's CLOCK_MONOTONIC time (t_ns=). */
#include "cli.h"
#include "common_opts.h"
#include "firmus/record.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: firmus mark NAME [--start|--end] [--tokens N] [--gpu I]\n"
                 "       firmus mark --tokens N\n"
                 "       firmus mark --request ID --start|--end [--tokens N]\n\n"
                 "Sends a marker to the running `firmus record` (this process must run under it,\n"
                 "or FIRMUS_MARK_SOCKET must name its marker socket). The marker is stamped with\n"
                 "this process's CLOCK_MONOTONIC time.\n\n"
                 "  NAME            phase or point name, e.g. prefill, decode, warmup_done\n"
                 "  --start, --end  phase start / end (default: a plain named point)\n"
                 "  --tokens N      tokens produced (summed into the run's tokens)\n"
                 "  --request ID    request boundary instead of a phase (with --start/--end)\n"
                 "  --gpu I         the marker concerns GPU I of the run only\n"
                 "  --help          this text\n\n"
                 "Protocol and examples for other languages: docs/MARKERS.md.\n");
}

/* Writes the whole line in one write() (atomic on a pipe up to PIPE_BUF). */
static int send_to_fd(const char *fd_text, const char *line, size_t len)
{
    int64_t fd = -1;
    if (fm_cli_parse_int64(fd_text, 0, &fd) != 0 || fd > 1000000) {
        fm_cli_error("mark", "%s='%s' is not a file descriptor", FM_MARK_ENV_FD, fd_text);
        return -1;
    }
    ssize_t n = write((int)fd, line, len);
    if (n == (ssize_t)len)
        return 0;
    fm_cli_error("mark", "cannot write to %s=%s: %s", FM_MARK_ENV_FD, fd_text,
                 n < 0 ? strerror(errno) : "short write");
    return -1;
}

static int send_to_socket(const char *path, const char *line, size_t len)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        fm_cli_error("mark", "%s path too long: %s", FM_MARK_ENV_SOCKET, path);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fm_cli_error("mark", "socket: %s", strerror(errno));
        return -1;
    }
    ssize_t n = sendto(fd, line, len, 0, (struct sockaddr *)&addr, sizeof addr);
    int e = errno;
    close(fd);
    if (n == (ssize_t)len)
        return 0;
    fm_cli_error("mark", "cannot send to %s=%s: %s (is the recorder still running?)",
                 FM_MARK_ENV_SOCKET, path, n < 0 ? strerror(e) : "short write");
    return -1;
}

/* The inherited descriptor is used only if it is still a pipe: a process
 * that did not inherit it may have the same number open on another file. */
static int fd_is_pipe(const char *fd_text)
{
    int64_t fd = -1;
    struct stat st;
    return fm_cli_parse_int64(fd_text, 0, &fd) == 0 && fd <= 1000000 && fstat((int)fd, &st) == 0 &&
           S_ISFIFO(st.st_mode);
}

typedef struct mark_args {
    const char *name;
    int start, end;
    int64_t tokens, request;
    int gpu;
} mark_args;

static int parse_args(int argc, char **argv, mark_args *a)
{
    static const struct option longopts[] = {{"start", no_argument, NULL, 's'},
                                             {"end", no_argument, NULL, 'e'},
                                             {"tokens", required_argument, NULL, 't'},
                                             {"request", required_argument, NULL, 'r'},
                                             {"gpu", required_argument, NULL, 'g'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    a->tokens = -1;
    a->request = -1;
    a->gpu = -1;
    optind = 1;
    opterr = 0;
    int c;
    int64_t v;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            a->start = 1;
            break;
        case 'e':
            a->end = 1;
            break;
        case 't':
        case 'r':
        case 'g':
            if (fm_cli_parse_int64(optarg, 0, &v) != 0) {
                fm_cli_error("mark", "--%s needs a non-negative integer, not '%s'",
                             c == 't'   ? "tokens"
                             : c == 'r' ? "request"
                                        : "gpu",
                             optarg);
                return FM_EXIT_USAGE;
            }
            if (c == 't')
                a->tokens = v;
            else if (c == 'r')
                a->request = v;
            else
                a->gpu = (int)v;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            fm_cli_error("mark", "unknown or incomplete option '%s' (firmus mark --help)",
                         argv[optind - 1]);
            return FM_EXIT_USAGE;
        }
    }
    if (optind < argc)
        a->name = argv[optind++];
    if (optind < argc) {
        fm_cli_error("mark", "unexpected argument '%s' (firmus mark --help)", argv[optind]);
        return FM_EXIT_USAGE;
    }
    return 0;
}

/* Turns the arguments into a marker; 0 or an exit code. */
static int build_marker(const mark_args *a, fm_marker *m)
{
    fm_marker_init(m, 0);
    m->tokens = a->tokens;
    m->gpu = a->gpu;
    if (a->start && a->end) {
        fm_cli_error("mark", "--start and --end exclude each other");
        return FM_EXIT_USAGE;
    }
    if (a->request >= 0) {
        if (!a->start && !a->end) {
            fm_cli_error("mark", "--request needs --start or --end");
            return FM_EXIT_USAGE;
        }
        if (a->name) {
            fm_cli_error("mark", "--request takes no NAME");
            return FM_EXIT_USAGE;
        }
        snprintf(m->kind, sizeof m->kind, "%s", a->start ? "request_start" : "request_end");
        m->request = a->request;
        return 0;
    }
    if (!a->name) {
        if (a->tokens < 0 || a->start || a->end) {
            fm_cli_error("mark", "give a marker NAME (or only --tokens N); firmus mark --help");
            return FM_EXIT_USAGE;
        }
        snprintf(m->kind, sizeof m->kind, "tokens");
        return 0;
    }
    if (!*a->name || strlen(a->name) >= sizeof m->name || strpbrk(a->name, " \t\r\n=")) {
        fm_cli_error("mark", "bad marker name '%s' (1-63 characters, no blanks or '=')", a->name);
        return FM_EXIT_USAGE;
    }
    snprintf(m->kind, sizeof m->kind, "%s", a->start ? "start" : a->end ? "end" : "mark");
    snprintf(m->name, sizeof m->name, "%s", a->name);
    return 0;
}

int fm_cmd_mark(int argc, char **argv)
{
    mark_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? FM_EXIT_OK : rc;
    fm_marker m;
    rc = build_marker(&a, &m);
    if (rc != 0)
        return rc;
    m.t_ns = fm_monotonic_ns();
    char line[FM_MARK_LINE_MAX + 2];
    int len = fm_marker_format_line(&m, 1, line, sizeof line);
    if (len < 0) {
        fm_cli_error("mark", "marker too long");
        return FM_EXIT_USAGE;
    }

    const char *fd_text = getenv(FM_MARK_ENV_FD);
    const char *socket_path = getenv(FM_MARK_ENV_SOCKET);
    if ((!fd_text || !*fd_text) && (!socket_path || !*socket_path)) {
        fm_cli_error("mark",
                     "no recorder to send to: %s and %s are unset (run the workload "
                     "under `firmus record -- CMD`)",
                     FM_MARK_ENV_FD, FM_MARK_ENV_SOCKET);
        return FM_EXIT_FAIL;
    }
    signal(SIGPIPE, SIG_IGN); /* a vanished recorder is an error message, not a crash */
    if (fd_text && *fd_text && fd_is_pipe(fd_text))
        return send_to_fd(fd_text, line, (size_t)len) == 0 ? FM_EXIT_OK : FM_EXIT_FAIL;
    if (socket_path && *socket_path)
        return send_to_socket(socket_path, line, (size_t)len) == 0 ? FM_EXIT_OK : FM_EXIT_FAIL;
    fm_cli_error("mark", "%s=%s is not an open pipe here and %s is unset", FM_MARK_ENV_FD, fd_text,
                 FM_MARK_ENV_SOCKET);
    return FM_EXIT_FAIL;
}
