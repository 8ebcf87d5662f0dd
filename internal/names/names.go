// Package names builds the names vfleet gives objects it creates from the
// names of others: unique, deterministic and within Kubernetes' limits.
package names

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// hashLen is how many hex digits of a hash end a name that was cut.
const hashLen = 10

// Join joins parts with sep. The result ends in "-" and a hash of the parts
// when it would be longer than limit (it is cut first), or when it could be
// read back as other parts, because sep occurs in it more often than it
// joins: ("a-x", "b") and ("a", "x-b") both read "a-x-x-b". So different
// inputs get different names. Parts that are DNS-1123 labels give a
// DNS-1123 label.
func Join(limit int, sep string, parts ...string) string {
	name := strings.Join(parts, sep)
	if len(name) <= limit && occurrences(name, sep) == len(parts)-1 {
		return name
	}
	return hashed(limit, name, parts)
}

// hashed cuts name to leave room for a hash of parts, and appends it.
func hashed(limit int, name string, parts []string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h := hex.EncodeToString(sum[:])[:hashLen]
	keep := strings.TrimRight(name[:min(len(name), limit-hashLen-1)], "-.")
	if keep == "" {
		return h
	}
	return keep + "-" + h
}

// Label is Join for parts that may be DNS-1123 subdomains (dots) rather
// than labels: a dot becomes a dash, and since "a.b" and "a-b" would then
// read the same, a name that had one is hashed. The result is always a
// DNS-1123 label of at most 63 characters.
func Label(sep string, parts ...string) string {
	clean := make([]string, len(parts))
	changed := false
	for i, p := range parts {
		clean[i] = strings.ReplaceAll(p, ".", "-")
		changed = changed || clean[i] != p
	}
	name := strings.Join(clean, sep)
	if !changed && len(name) <= 63 && occurrences(name, sep) == len(parts)-1 {
		return name
	}
	return hashed(63, name, parts)
}

// HostName is the name on its host of a vcluster's namespaced object:
// "<name>-x-<namespace>-x-<vcluster>", cut to 63 characters with a hash
// when longer, or when it could be read as another object's.
func HostName(name, namespace, vcluster string) string {
	return Label("-x-", name, namespace, vcluster)
}

// occurrences counts sep in s, overlapping ones included.
func occurrences(s, sep string) int {
	n := 0
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			n++
		}
	}
	return n
}

// VClusterNamespace is the namespace on its host that holds a vcluster's
// workloads: "vc-<name>-x-<namespace>", cut to 63 characters with a hash.
func VClusterNamespace(namespace, name string) string {
	return Join(63, "-x-", "vc-"+name, namespace)
}
