// Package framework holds helpers for the e2e suites over the lab, each an
// XxxInput struct and a function, in the manner of cluster-api's
// test/framework.
package framework
