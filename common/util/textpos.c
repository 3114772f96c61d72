/* SPDX-License-Identifier: MIT */
/* textpos: see textpos.h. */
#include "util/textpos.h"

/* Length of the line break at buf[i], 0 if there is none. */
static size_t line_break(const char *buf, size_t len, size_t i)
{
        const unsigned char *u = (const unsigned char *)buf + i;
        size_t left = len - i;

        if (u[0] == '\n')
                return 1;
        if (u[0] == '\r')
                return left > 1 && u[1] == '\n' ? 2 : 1;
        if (left > 1 && u[0] == 0xc2 && u[1] == 0x85)
                return 2;
        if (left > 2 && u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
                return 3;
        return 0;
}

void text_pos_at(const char *buf, size_t len, size_t offset, unsigned *line, unsigned *column)
{
        unsigned l = 1, c = 1;

        for (size_t i = 0; i < offset && i < len;) {
                size_t b = line_break(buf, len, i);
                if (b) {
                        l++;
                        c = 1;
                        i += b;
                        continue;
                }
                if (((unsigned char)buf[i] & 0xc0) != 0x80)
                        c++;
                i++;
        }
        *line = l;
        *column = c;
}
