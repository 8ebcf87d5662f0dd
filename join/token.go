package join

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Token is a bootstrap token, "<id>.<secret>", in the shape of Kubernetes
// bootstrap tokens: the id finds it, the secret proves it.
type Token struct {
	ID     string
	Secret string
}

// SecretType marks Secrets that hold bootstrap tokens.
const SecretType corev1.SecretType = "fleet.vfleet.dev/bootstrap-token"

// Keys of a bootstrap token Secret.
const (
	keyID         = "token-id"
	keySecret     = "token-secret"
	keyExpiration = "expiration"
	keyHost       = "host"
	keyReusable   = "reusable"
)

// DefaultTTL is how long a token is valid unless its maker says otherwise:
// long enough to start an agent, short enough that a token left in a
// shell history or a ticket is dead by the time anyone finds it.
const DefaultTTL = time.Hour

// Grant is what a bootstrap token allows.
type Grant struct {
	// Expires is when the token stops working; zero for never.
	Expires time.Time
	// Host, if set, pins the token to that host: it may join only as that
	// host, and it may join as that host even once it is registered. A
	// token without a host may only register a new host.
	Host string
	// Reusable tokens survive a join; others are consumed by their first.
	Reusable bool
}

var tokenPattern = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

// ErrMalformed is returned for a string that is not a bootstrap token.
var ErrMalformed = errors.New("a bootstrap token looks like abcdef.0123456789abcdef: 6 and 16 lowercase letters or digits")

// ParseToken parses "<id>.<secret>".
func ParseToken(s string) (Token, error) {
	m := tokenPattern.FindStringSubmatch(s)
	if m == nil {
		return Token{}, ErrMalformed
	}
	return Token{ID: m[1], Secret: m[2]}, nil
}

// NewToken returns a random token.
func NewToken() (Token, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	if _, err := rand.Read(b); err != nil {
		return Token{}, err
	}
	for i := range b {
		// 256 is not a multiple of 36; the bias is a fraction of a bit,
		// irrelevant next to 82 bits of secret.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return Token{ID: string(b[:6]), Secret: string(b[6:])}, nil
}

func (t Token) String() string { return t.ID + "." + t.Secret }

// SecretName is the name of the Secret that holds the token with this id.
func SecretName(id string) string { return "bootstrap-token-" + id }

// StoredAs returns the Secret that makes t valid in namespace with what g
// allows.
func (t Token) StoredAs(namespace string, g Grant) *corev1.Secret {
	data := map[string]string{keyID: t.ID, keySecret: t.Secret}
	if !g.Expires.IsZero() {
		data[keyExpiration] = g.Expires.UTC().Format(time.RFC3339)
	}
	if g.Host != "" {
		data[keyHost] = g.Host
	}
	if g.Reusable {
		data[keyReusable] = "true"
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      SecretName(t.ID),
			Labels:    map[string]string{fleetv1.LabelManagedBy: fleetv1.ManagedByValue},
		},
		Type:       SecretType,
		StringData: data,
	}
}

// Verify checks t against the Secret stored for its id at now, and returns
// what the token allows.
func (t Token) Verify(secret *corev1.Secret, now time.Time) (Grant, error) {
	if secret.Type != SecretType {
		return Grant{}, fmt.Errorf("secret %s is of type %s", secret.Name, secret.Type)
	}
	if subtle.ConstantTimeCompare(secret.Data[keySecret], []byte(t.Secret)) != 1 || string(secret.Data[keyID]) != t.ID {
		return Grant{}, errors.New("secret does not match")
	}
	g := Grant{Host: string(secret.Data[keyHost]), Reusable: string(secret.Data[keyReusable]) == "true"}
	if exp := string(secret.Data[keyExpiration]); exp != "" {
		at, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			return Grant{}, fmt.Errorf("expiration %q: %w", exp, err)
		}
		if !now.Before(at) {
			return Grant{}, fmt.Errorf("expired at %s", exp)
		}
		g.Expires = at
	}
	return g, nil
}
