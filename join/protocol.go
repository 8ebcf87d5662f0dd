package join

import (
	"errors"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Path is where the hub serves joins.
const Path = "/v1/join"

// Request is what an agent sends; its bootstrap token travels in the
// Authorization header.
type Request struct {
	Host   string `json:"host"`
	Region string `json:"region"`
	Zone   string `json:"zone,omitempty"`
	// Credential is the agent's current token on the management cluster,
	// if it has one. A bootstrap token may register a new host; joining
	// as a host that is already registered takes proof of being it: this
	// credential, or a bootstrap token pinned to the host.
	Credential string `json:"credential,omitempty"`
}

// Response carries the agent's credentials on the management cluster.
type Response struct {
	// Server and CAData say how to reach the management cluster.
	Server string `json:"server"`
	CAData []byte `json:"caData"`
	// Namespace is the host's namespace, the only one the agent may use.
	Namespace string `json:"namespace"`
	// Token is a ServiceAccount token for the agent, valid until
	// Expiration; the agent renews it itself.
	Token      string    `json:"token"`
	Expiration time.Time `json:"expiration"`
}

// ErrorBody is what the server answers with on failure.
type ErrorBody struct {
	Message string `json:"message"`
}

// Validate says what is wrong with a request, all of it at once.
func (req Request) Validate() error {
	var problems []string
	if msgs := validation.IsDNS1123Label(req.Host); len(msgs) > 0 {
		problems = append(problems, "host name: "+strings.Join(msgs, "; "))
	} else if len(fleetv1.HostNamespace(req.Host)) > validation.DNS1123LabelMaxLength {
		problems = append(problems, "host name: at most 51 characters")
	}
	if req.Region == "" {
		problems = append(problems, "region is required")
	}
	if len(problems) > 0 {
		return errors.New("invalid join request: " + strings.Join(problems, ", "))
	}
	return nil
}
