// Package bench holds benchmarks that need a whole lab: `make
// bench-controlplane` and the ones that follow it.
package bench
