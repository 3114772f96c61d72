/* SPDX-License-Identifier: MIT */
/*
 * textpos: line and column of a byte offset in a text, counted as libyaml counts them
 * (line breaks LF, CR, CR LF, NEL, LS and PS; a column per UTF-8 character), for parser
 * errors that carry a byte offset but no mark, and for marks past the end of the input.
 */
#pragma once

#include <stddef.h>

/* 1-based line and column of buf[offset] (offsets past len count as len). */
void text_pos_at(const char *buf, size_t len, size_t offset, unsigned *line, unsigned *column);
