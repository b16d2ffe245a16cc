"""The `linux` driver: a real host read through sysfs and /proc, moves by system call.

`backend` observes VM processes someone else started (numa_maps, vCPU threads); `mover`
moves their memory with move_pages(2) at a bounded rate (`page_ranges`,
`numa_syscalls`) and re-binds their vCPU threads. It cannot start VMs or move balloons.
"""
