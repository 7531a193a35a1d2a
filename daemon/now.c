#include "now.h"
#include "os.h"

static uint64_t turn_us; /* 0: the loop has not started */

void now_update(void)
{
	turn_us = os_monotonic_us();
}

uint64_t now_us(void)
{
	return turn_us != 0 ? turn_us : os_monotonic_us();
}

uint64_t now_ms(void)
{
	return now_us() / 1000;
}
