// SPDX-License-Identifier: GPL-2.0-only
/*
 * The one definition of every map and rodata setting (see aegis_maps.h) and
 * the license of the linked object. Hook files only declare them extern.
 */
#define AEGIS_DEFINE_MAPS
#include "aegis_core.h"

/* GPL: bpf_probe_read_kernel(), bpf_send_signal() and friends are GPL-only. */
char LICENSE[] SEC("license") = "GPL";
