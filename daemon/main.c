/* SPDX-License-Identifier: MIT */
/* mlbd entry point: placeholder until config loading lands (issue 3). */
#include "util/log.h"

int main(int argc, char **argv)
{
        return log_error("mlbd: not yet"), 1;
}
