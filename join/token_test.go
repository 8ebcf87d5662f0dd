package join

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestParseToken(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"abcdef.0123456789abcdef", true},
		{"ABCDEF.0123456789abcdef", false},
		{"abcdef0123456789abcdef", false},
		{"abcde.0123456789abcdef", false},
		{"abcdef.0123456789abcdef0", false},
		{"", false},
	} {
		_, err := ParseToken(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseToken(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestNewTokenParses(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("%q does not round-trip: %v", tok, err)
		}
		if seen[tok.ID] {
			t.Fatalf("id %s repeated", tok.ID)
		}
		seen[tok.ID] = true
	}
}

// stored is what the API server returns for the Secret: StringData folded
// into Data.
func stored(s *corev1.Secret) *corev1.Secret {
	s.Data = map[string][]byte{}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tok := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	for _, tc := range []struct {
		name     string
		secret   *corev1.Secret
		token    Token
		wantHost string
		ok       bool
	}{
		{"valid forever", stored(tok.StoredAs("ns", time.Time{}, "")), tok, "", true},
		{"valid until later", stored(tok.StoredAs("ns", now.Add(time.Hour), "")), tok, "", true},
		{"expired", stored(tok.StoredAs("ns", now.Add(-time.Second), "")), tok, "", false},
		{"expires now", stored(tok.StoredAs("ns", now, "")), tok, "", false},
		{"wrong secret", stored(tok.StoredAs("ns", time.Time{}, "")), Token{ID: "abcdef", Secret: "ffffffffffffffff"}, "", false},
		{"limited to a host", stored(tok.StoredAs("ns", time.Time{}, "host-1")), tok, "host-1", true},
		{"not a token secret", func() *corev1.Secret {
			s := stored(tok.StoredAs("ns", time.Time{}, ""))
			s.Type = corev1.SecretTypeOpaque
			return s
		}(), tok, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host, err := tc.token.Verify(tc.secret, now)
			if (err == nil) != tc.ok || host != tc.wantHost {
				t.Fatalf("verify: host %q err %v; want host %q ok=%v", host, err, tc.wantHost, tc.ok)
			}
		})
	}
}
