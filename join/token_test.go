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
	later := now.Add(time.Hour)
	tok := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		token  Token
		want   Grant
		ok     bool
	}{
		{"valid forever", stored(tok.StoredAs("ns", Grant{})), tok, Grant{}, true},
		{"valid until later", stored(tok.StoredAs("ns", Grant{Expires: later})), tok, Grant{Expires: later}, true},
		{"expired", stored(tok.StoredAs("ns", Grant{Expires: now.Add(-time.Second)})), tok, Grant{}, false},
		{"expires now", stored(tok.StoredAs("ns", Grant{Expires: now})), tok, Grant{}, false},
		{"wrong secret", stored(tok.StoredAs("ns", Grant{})), Token{ID: "abcdef", Secret: "ffffffffffffffff"}, Grant{}, false},
		{"wrong id", stored(tok.StoredAs("ns", Grant{})), Token{ID: "abcdeg", Secret: "0123456789abcdef"}, Grant{}, false},
		{"pinned to a host", stored(tok.StoredAs("ns", Grant{Host: "host-1"})), tok, Grant{Host: "host-1"}, true},
		{"reusable", stored(tok.StoredAs("ns", Grant{Reusable: true, Expires: later})), tok, Grant{Reusable: true, Expires: later}, true},
		{"not a token secret", func() *corev1.Secret {
			s := stored(tok.StoredAs("ns", Grant{}))
			s.Type = corev1.SecretTypeOpaque
			return s
		}(), tok, Grant{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.token.Verify(tc.secret, now)
			if (err == nil) != tc.ok || !got.Expires.Equal(tc.want.Expires) || got.Host != tc.want.Host || got.Reusable != tc.want.Reusable {
				t.Fatalf("verify: %+v err %v; want %+v ok=%v", got, err, tc.want, tc.ok)
			}
		})
	}
}
