/* Timestamps of imported logs: parses the date-time texts nvidia-smi and
 * pandas write ("2024/04/05 06:32:24.091", "2024-04-05 06:32:24.091",
 * ISO "T") in a given zone into UTC epoch nanoseconds. Zones: "UTC"/"Z",
 * fixed offsets ("-05:00", "+0530"), or IANA names ("America/Chicago"),
 * the latter through TZ/tzset/mktime (process-wide; not thread-safe). */
#include "firmus/import.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Reads exactly `digits` decimal digits at s[*pos]. */
static int read_digits(const char *s, size_t len, size_t *pos, int digits, int *value)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        if (*pos >= len || !isdigit((unsigned char)s[*pos]))
            return -1;
        v = v * 10 + (s[*pos] - '0');
        (*pos)++;
    }
    *value = v;
    return 0;
}

/* Fixed offset in seconds east of UTC; 0 if tz is one; -1 if not. */
static int parse_fixed_offset(const char *tz, long *offset_s)
{
    if (!tz || !*tz || !strcmp(tz, "UTC") || !strcmp(tz, "Z") || !strcmp(tz, "utc") ||
        !strcmp(tz, "GMT")) {
        *offset_s = 0;
        return 0;
    }
    if (tz[0] != '+' && tz[0] != '-')
        return -1;
    int sign = tz[0] == '-' ? -1 : 1;
    const char *p = tz + 1;
    size_t n = strlen(p);
    int hh, mm = 0;
    size_t pos = 0;
    if (read_digits(p, n, &pos, 2, &hh))
        return -1;
    if (pos < n && p[pos] == ':')
        pos++;
    if (pos < n && read_digits(p, n, &pos, 2, &mm))
        return -1;
    if (pos != n || hh > 18 || mm > 59)
        return -1;
    *offset_s = sign * (hh * 3600L + mm * 60L);
    return 0;
}

/* UTC seconds of a broken-down local time in IANA zone tz (via mktime). */
static int local_to_utc_iana(const char *tz, int y, int mo, int d, int h, int mi, int sec,
                             int64_t *utc_s)
{
    const char *cur = getenv("TZ");
    if (!cur || strcmp(cur, tz)) {
        setenv("TZ", tz, 1);
        tzset();
    }
    struct tm tmv = {0};
    tmv.tm_year = y - 1900;
    tmv.tm_mon = mo - 1;
    tmv.tm_mday = d;
    tmv.tm_hour = h;
    tmv.tm_min = mi;
    tmv.tm_sec = sec;
    tmv.tm_isdst = -1;
    time_t t = mktime(&tmv);
    if (t == (time_t)-1)
        return -1;
    *utc_s = (int64_t)t;
    return 0;
}

int fm_tz_check(const char *tz, fm_error *err)
{
    long off;
    if (parse_fixed_offset(tz, &off) == 0)
        return FM_OK;
    /* An IANA name: accept it only if the zone database knows it. */
    char path[512];
    const char *dir = getenv("TZDIR") ? getenv("TZDIR") : "/usr/share/zoneinfo";
    if (strstr(tz, "..") || strlen(tz) > 200)
        return fm_fail(err, FM_ERR_USAGE, "--tz '%s': not a zone name", tz);
    snprintf(path, sizeof path, "%s/%s", dir, tz);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fm_fail(err, FM_ERR_USAGE,
                       "--tz '%s': unknown zone (use UTC, an offset like -05:00, or an IANA "
                       "name such as America/Chicago)",
                       tz);
    fclose(f);
    return FM_OK;
}

int fm_parse_local_time(const char *s, size_t len, const char *tz, int64_t *utc_ns,
                        const char **why)
{
    size_t pos = 0;
    while (pos < len && s[pos] == ' ')
        pos++;
    int y, mo, d, h, mi, sec;
    *why = "expected a timestamp like 2024/04/05 06:32:24.091";
    if (read_digits(s, len, &pos, 4, &y))
        return -1;
    if (pos >= len || (s[pos] != '/' && s[pos] != '-'))
        return -1;
    char dsep = s[pos++];
    if (read_digits(s, len, &pos, 2, &mo) || pos >= len || s[pos++] != dsep)
        return -1;
    if (read_digits(s, len, &pos, 2, &d) || pos >= len || (s[pos] != ' ' && s[pos] != 'T'))
        return -1;
    pos++;
    if (read_digits(s, len, &pos, 2, &h) || pos >= len || s[pos++] != ':')
        return -1;
    if (read_digits(s, len, &pos, 2, &mi) || pos >= len || s[pos++] != ':')
        return -1;
    if (read_digits(s, len, &pos, 2, &sec))
        return -1;
    int64_t frac_ns = 0;
    if (pos < len && s[pos] == '.') {
        pos++;
        int64_t scale = 100000000;
        size_t start = pos;
        while (pos < len && isdigit((unsigned char)s[pos])) {
            frac_ns += (s[pos] - '0') * scale;
            scale /= 10;
            pos++;
        }
        if (pos == start)
            return -1;
    }
    while (pos < len && s[pos] == ' ')
        pos++;
    if (pos != len)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        *why = "date or time out of range";
        return -1;
    }
    if (y < 1970 || y > 2200) {
        *why = "year out of range (1970-2200)";
        return -1;
    }
    long off;
    int64_t utc_s;
    if (parse_fixed_offset(tz, &off) == 0) {
        utc_s = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    } else if (local_to_utc_iana(tz, y, mo, d, h, mi, sec, &utc_s)) {
        *why = "time does not exist in the given zone";
        return -1;
    }
    *utc_ns = utc_s * 1000000000LL + frac_ns;
    return 0;
}
