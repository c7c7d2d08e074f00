"""What the box is: the kernel's features, the system's and a process's figures, ELF
symbols of mapped files, network interfaces, block devices, syscall and capability
names. Plain reads, no BPF loading.
"""
