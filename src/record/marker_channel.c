/* The marker channel: a pipe whose write end the command inherits
 * (FIRMUS_MARK_FD) and a UNIX datagram socket for processes that do not
 * inherit it (FIRMUS_MARK_SOCKET). Both are read without blocking once per
 * tick; complete lines go to a callback. Protocol: docs/MARKERS.md. */
#include "record/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) ? -1 : 0;
}

static int open_socket(fm_mark_channel *ch, const char *path, fm_error *err)
{
    if (path) {
        if (strlen(path) >= sizeof ch->socket_path)
            return fm_fail(err, FM_ERR_USAGE, "marker socket path too long (max %zu bytes): %s",
                           sizeof ch->socket_path - 1, path);
        snprintf(ch->socket_path, sizeof ch->socket_path, "%s", path);
    } else {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp || strlen(tmp) > 60)
            tmp = "/tmp";
        snprintf(ch->socket_dir, sizeof ch->socket_dir, "%s/firmus-mark-XXXXXX", tmp);
        if (!mkdtemp(ch->socket_dir)) {
            int e = errno;
            ch->socket_dir[0] = '\0';
            return fm_fail(err, FM_ERR_IO,
                           "cannot make a directory for the marker socket in %s: %s", tmp,
                           strerror(e));
        }
        snprintf(ch->socket_path, sizeof ch->socket_path, "%s/mark.sock", ch->socket_dir);
    }
    ch->socket_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ch->socket_fd < 0)
        return fm_fail(err, FM_ERR_IO, "marker socket: %s", strerror(errno));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, ch->socket_path, strlen(ch->socket_path) + 1);
    if (bind(ch->socket_fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return fm_fail(err, FM_ERR_IO, "marker socket %s: %s", ch->socket_path, strerror(errno));
    /* Room for bursts between two ticks. */
    int bytes = 1 << 20;
    setsockopt(ch->socket_fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    return FM_OK;
}

int fm_mark_channel_open(fm_mark_channel *ch, const char *socket_path, fm_error *err)
{
    memset(ch, 0, sizeof *ch);
    ch->pipe_read_fd = ch->pipe_write_fd = ch->socket_fd = -1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return fm_fail(err, FM_ERR_IO, "marker pipe: %s", strerror(errno));
    ch->pipe_read_fd = fds[0];
    ch->pipe_write_fd = fds[1];
    if (set_nonblocking(ch->pipe_read_fd) != 0) {
        int e = errno;
        fm_mark_channel_close(ch);
        return fm_fail(err, FM_ERR_IO, "marker pipe: %s", strerror(e));
    }
    int rc = open_socket(ch, socket_path, err);
    if (rc != FM_OK)
        fm_mark_channel_close(ch);
    return rc;
}

void fm_mark_channel_close_write_end(fm_mark_channel *ch)
{
    if (ch->pipe_write_fd >= 0)
        close(ch->pipe_write_fd);
    ch->pipe_write_fd = -1;
}

void fm_mark_channel_close(fm_mark_channel *ch)
{
    fm_mark_channel_close_write_end(ch);
    if (ch->pipe_read_fd >= 0)
        close(ch->pipe_read_fd);
    ch->pipe_read_fd = -1;
    if (ch->socket_fd >= 0) {
        close(ch->socket_fd);
        unlink(ch->socket_path);
    }
    ch->socket_fd = -1;
    if (ch->socket_dir[0])
        rmdir(ch->socket_dir);
    ch->socket_dir[0] = '\0';
}

/* Adds bytes read from the pipe to the partial line; emits complete lines.
 * A line longer than FM_MARK_LINE_MAX is reported once (overlong) and the
 * rest of it, up to its newline, is skipped. */
static void feed_pipe_bytes(fm_mark_channel *ch, const char *data, size_t n, fm_mark_line_fn fn,
                            void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == '\n') {
            if (!ch->line_overlong) {
                ch->line[ch->line_len] = '\0';
                fn(ctx, ch->line, 0);
            }
            ch->line_len = 0;
            ch->line_overlong = 0;
        } else if (ch->line_overlong) {
            continue;
        } else if (ch->line_len == FM_MARK_LINE_MAX) {
            ch->line_overlong = 1;
            ch->line_len = 0;
            fn(ctx, "", 1);
        } else {
            ch->line[ch->line_len++] = c;
        }
    }
}

/* At most this many reads per channel per tick, so that a workload that
 * floods the channel cannot make a tick overrun; the rest waits for the
 * next tick (the pipe and the socket buffer hold it). */
#define MAX_READS_PER_POLL 32

/* Returns the number of reads that brought data. */
static int poll_pipe(fm_mark_channel *ch, fm_mark_line_fn fn, void *ctx)
{
    char buf[8192];
    int got = 0;
    for (int reads = 0; ch->pipe_read_fd >= 0 && reads < MAX_READS_PER_POLL; reads++) {
        ssize_t n = read(ch->pipe_read_fd, buf, sizeof buf);
        if (n > 0) {
            feed_pipe_bytes(ch, buf, (size_t)n, fn, ctx);
            got++;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            /* Every writer has gone: a last line without a newline still counts. */
            if (ch->line_len > 0 && !ch->line_overlong) {
                ch->line[ch->line_len] = '\0';
                fn(ctx, ch->line, 0);
            }
            ch->line_len = 0;
            close(ch->pipe_read_fd);
            ch->pipe_read_fd = -1;
        }
        break; /* EAGAIN: nothing more now */
    }
    return got;
}

/* A datagram holds one or more whole lines; the last may lack its newline. */
static void emit_datagram_lines(char *msg, size_t n, fm_mark_line_fn fn, void *ctx)
{
    msg[n] = '\0';
    char *start = msg;
    while (start < msg + n) {
        char *nl = memchr(start, '\n', (size_t)(msg + n - start));
        if (nl)
            *nl = '\0';
        size_t len = strlen(start);
        if (len > FM_MARK_LINE_MAX)
            fn(ctx, "", 1);
        else if (len > 0 || nl)
            fn(ctx, start, 0);
        if (!nl)
            break;
        start = nl + 1;
    }
}

static int poll_socket(fm_mark_channel *ch, fm_mark_line_fn fn, void *ctx)
{
    char msg[65536 + 1];
    int got = 0;
    for (int reads = 0; ch->socket_fd >= 0 && reads < MAX_READS_PER_POLL; reads++) {
        ssize_t n = recv(ch->socket_fd, msg, sizeof msg - 1, MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        got++;
        if ((size_t)n > sizeof msg - 1) {
            fn(ctx, "", 1); /* truncated datagram */
            continue;
        }
        emit_datagram_lines(msg, (size_t)n, fn, ctx);
    }
    return got;
}

void fm_mark_channel_poll(fm_mark_channel *ch, fm_mark_line_fn fn, void *ctx)
{
    poll_pipe(ch, fn, ctx);
    poll_socket(ch, fn, ctx);
}

void fm_mark_channel_drain(fm_mark_channel *ch, fm_mark_line_fn fn, void *ctx)
{
    /* Bounded: a writer that never stops cannot keep the recorder here. */
    for (int round = 0; round < 1000; round++)
        if (poll_pipe(ch, fn, ctx) + poll_socket(ch, fn, ctx) == 0)
            break;
}
