// Package architecture holds the tests that keep the tree shaped as
// docs/architecture.md draws it: which packages may import which, and how
// large a file or a function may grow.
package architecture
