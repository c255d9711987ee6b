// Command airanode-cuda is airanode's CUDA compute core: a separate binary (build tag cuda) that links
// gorgonia.org/cu, whose package init exits the process when no NVIDIA driver is present. The node
// spawns one core per GPU and talks to it over a framed protocol on its standard input and output
// (docs/gpu.md). `airanode-cuda info` prints the devices as JSON. Built with the tag cudaemu instead
// (make cuda-emu), it is the same core on one emulated device whose kernels run on the host: slow,
// for tests without a GPU.
package main
