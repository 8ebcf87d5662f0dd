// Package portclaim holds loopback ports for labs and tests: blocks below
// the kernel's ephemeral range, each under a machine-wide lock, so that two
// holders running side by side never take the same port.
package portclaim
