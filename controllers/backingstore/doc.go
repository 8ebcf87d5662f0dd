// Package backingstore checks that the hub can log in to each BackingStore
// with its admin credentials, and says so in its Ready condition: a store
// that is down or refuses the credentials keeps the vclusters that need it
// Pending, with that reason.
package backingstore
