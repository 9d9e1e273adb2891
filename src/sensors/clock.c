/* Clocks: CLOCK_MONOTONIC/CLOCK_REALTIME readers and the backend clock that
 * either sleeps to an absolute deadline or, in virtual time, jumps to it. */
#include "firmus/sensor.h"

#include <errno.h>
#include <time.h>

static int64_t read_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t fm_monotonic_ns(void)
{
    return read_clock_ns(CLOCK_MONOTONIC);
}

int64_t fm_realtime_ns(void)
{
    return read_clock_ns(CLOCK_REALTIME);
}

int64_t fm_clock_now_ns(const fm_clock *c)
{
    return (c && c->virtual_time) ? c->virtual_now_ns : fm_monotonic_ns();
}

void fm_clock_sleep_until(fm_clock *c, int64_t deadline_ns)
{
    if (c && c->virtual_time) {
        if (deadline_ns > c->virtual_now_ns)
            c->virtual_now_ns = deadline_ns;
        return;
    }
    struct timespec ts = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}
