/*
 * The event loop's time: the monotonic clock read when the loop wakes and
 * before it computes its next wait, so that one turn's work agrees on "now"
 * and a proxied request reads the clock four times instead of two dozen.
 * Deadlines set from it are late by at most the work of one turn. Before
 * the loop's first turn, each call reads the clock.
 */
#ifndef ZTP_NOW_H
#define ZTP_NOW_H

#include <stdint.h>

/* Reads the clock; the loop calls it, nothing else does. */
void now_update(void);

/* Microseconds and milliseconds on os_monotonic_us()'s clock. */
uint64_t now_us(void);
uint64_t now_ms(void);

#endif
