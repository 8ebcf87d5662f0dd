// Package launch is the contract between the agent's runtimes and `vfleet
// controlplane`: its settings as flags and environment, and its files.
package launch
