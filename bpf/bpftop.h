/* Shared between bpftop's BPF programs and documented for the Python side,
 * which decodes events with bcc's table.event(), never with ctypes copies. */
#ifndef BPFTOP_H
#define BPFTOP_H

#define TASK_COMM_LEN 16

#endif
