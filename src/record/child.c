/* The command being measured: checking it exists before the recording
 * starts, starting it with the marker channel in its environment
 * (posix_spawnp: stdin/stdout/stderr inherited untouched), reaping it
 * without blocking, and the signal handling of the recording (SIGINT,
 * SIGTERM, SIGHUP are noted by a handler and acted on by the sampling loop:
 * forwarded to the child, or ending the recording cleanly). */
#include "record/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The only mutable file-scope state of the recorder: a signal handler can
 * reach nothing else. One recording per process at a time. */
static volatile sig_atomic_t pending_signal;
static volatile sig_atomic_t pending_from_terminal;

static int is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int fm_child_check_command(const char *argv0, fm_error *err)
{
    if (!argv0 || !*argv0)
        return fm_fail(err, FM_ERR_USAGE, "empty command");
    if (strchr(argv0, '/')) {
        if (is_executable_file(argv0))
            return FM_OK;
        return fm_fail(err, FM_ERR_NOT_FOUND, "cannot run '%s': %s", argv0,
                       access(argv0, F_OK) == 0 ? "not an executable file" : "no such file");
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char dir_buf[4096];
    for (const char *p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t dir_len = colon ? (size_t)(colon - p) : strlen(p);
        char candidate[4096 + 256];
        snprintf(dir_buf, sizeof dir_buf, "%.*s", (int)dir_len, p);
        snprintf(candidate, sizeof candidate, "%s/%s", dir_len ? dir_buf : ".", argv0);
        if (is_executable_file(candidate))
            return FM_OK;
        if (!colon)
            break;
        p = colon + 1;
    }
    return fm_fail(err, FM_ERR_NOT_FOUND, "cannot run '%s': command not found on PATH", argv0);
}

/* environ without our variables, plus FIRMUS_MARK_FD, FIRMUS_MARK_SOCKET
 * and FIRMUS_RUN_ID. The strings of the three are in vars. */
static char **child_environment(const fm_mark_channel *ch, int64_t run_id, char vars[3][160])
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 4, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "FIRMUS_MARK_", 12) && strncmp(environ[i], "FIRMUS_RUN_ID=", 14))
            env[k++] = environ[i];
    snprintf(vars[0], 160, "%s=%d", FM_MARK_ENV_FD, ch->pipe_write_fd);
    env[k++] = vars[0];
    if (ch->socket_fd >= 0) {
        snprintf(vars[1], 160, "%s=%s", FM_MARK_ENV_SOCKET, ch->socket_path);
        env[k++] = vars[1];
    }
    snprintf(vars[2], 160, "%s=%" PRId64, FM_MARK_ENV_RUN_ID, run_id);
    env[k++] = vars[2];
    env[k] = NULL;
    return env;
}

int fm_child_start(fm_child *c, char *const *argv, const fm_mark_channel *ch, int64_t run_id,
                   fm_error *err)
{
    memset(c, 0, sizeof *c);
    char vars[3][160];
    char **env = child_environment(ch, run_id, vars);
    if (!env)
        return fm_fail(err, FM_ERR_NOMEM, "out of memory starting the command");

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    /* The write end is close-on-exec in the recorder; only the child (started
     * from this thread, the only one that starts processes) gets it. */
    int flags = fcntl(ch->pipe_write_fd, F_GETFD);
    fcntl(ch->pipe_write_fd, F_SETFD, flags & ~FD_CLOEXEC);

    pid_t pid = 0;
    int rc = posix_spawnp(&pid, argv[0], NULL, &attr, argv, env);
    fcntl(ch->pipe_write_fd, F_SETFD, flags | FD_CLOEXEC);
    posix_spawnattr_destroy(&attr);
    free(env);
    if (rc != 0)
        return fm_fail(err, rc == ENOENT ? FM_ERR_NOT_FOUND : FM_ERR, "cannot run '%s': %s",
                       argv[0], strerror(rc));
    c->pid = pid;
    c->running = 1;
    c->exit_code = -1;
    return FM_OK;
}

int fm_child_poll(fm_child *c)
{
    if (!c->running)
        return c->pid != 0;
    int status = 0;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return 0;
    c->running = 0;
    if (r < 0)
        c->exit_code = 127; /* cannot happen for our own child; do not hang */
    else if (WIFEXITED(status))
        c->exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        c->exit_code = 128 + WTERMSIG(status);
    else
        c->exit_code = 127;
    return 1;
}

void fm_child_signal(fm_child *c, int sig)
{
    if (c->running && c->pid > 0)
        kill(c->pid, sig);
}

static void note_signal(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    pending_signal = sig;
    pending_from_terminal = (info && info->si_code == SI_KERNEL) ? 1 : 0;
}

void fm_signals_install(fm_signal_guard *g)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = note_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    pending_signal = 0;
    sigaction(SIGINT, &sa, &g->old_int);
    sigaction(SIGTERM, &sa, &g->old_term);
    sigaction(SIGHUP, &sa, &g->old_hup);
}

void fm_signals_restore(const fm_signal_guard *g)
{
    sigaction(SIGINT, &g->old_int, NULL);
    sigaction(SIGTERM, &g->old_term, NULL);
    sigaction(SIGHUP, &g->old_hup, NULL);
}

int fm_signals_take(int *from_terminal)
{
    int sig = pending_signal;
    if (sig) {
        if (from_terminal)
            *from_terminal = pending_from_terminal;
        pending_signal = 0;
    }
    return sig;
}
