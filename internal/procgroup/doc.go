// Package procgroup runs child processes that cannot outlive their parent:
// each child leads its own process group and is killed by the kernel when the
// process that started it dies (Pdeathsig), even by SIGKILL.
package procgroup
