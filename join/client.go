package join

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vfleet/vfleet/internal/pki"
)

// Refused is a join the hub answered with a refusal: retrying the same
// request will not help.
type Refused struct {
	Status  int
	Message string
}

func (e *Refused) Error() string {
	return fmt.Sprintf("the hub refused the join (%d %s): %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Join asks the hub at hubURL, whose serving certificate caPEM verifies, to
// let the host in.
func Join(ctx context.Context, hubURL string, caPEM []byte, token string, req Request) (*Response, error) {
	pool, err := pki.Pool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("the hub CA file: %w", err)
	}
	hc := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(hubURL, "/")+Path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(r)
	if err != nil {
		return nil, fmt.Errorf("reach the hub at %s: %w", hubURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Message == "" {
			eb.Message = strings.TrimSpace(string(data))
		}
		if resp.StatusCode >= 500 {
			return nil, fmt.Errorf("the hub failed the join (%s): %s", resp.Status, eb.Message)
		}
		return nil, &Refused{Status: resp.StatusCode, Message: eb.Message}
	}
	out := &Response{}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("the hub's answer is not a join response: %w", err)
	}
	return out, nil
}
