package backingstore

import (
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/stores/etcdstore"
)

// readyCondition turns the outcome of a login into the Ready condition.
func readyCondition(bs *fleetv1.BackingStore, err error) metav1.Condition {
	c := metav1.Condition{Type: fleetv1.ConditionReady, ObservedGeneration: bs.Generation}
	var pg *pgconn.PgError
	var netErr net.Error
	var missing *stores.CredentialsError
	var etcdAuth *etcdstore.AuthError
	var etcdDown *etcdstore.UnreachableError
	switch {
	case err == nil:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, fleetv1.ReasonReachable, "the hub administers "+bs.Spec.Endpoint+" with the admin credentials"
		return c
	case errors.As(err, &missing):
		c.Reason = fleetv1.ReasonCredentialsMissing
	case errors.As(err, &pg) && (pg.Code == "28P01" || pg.Code == "28000"), errors.As(err, &etcdAuth):
		c.Reason = fleetv1.ReasonAuthenticationFailed
	case errors.Is(err, etcdstore.ErrAuthDisabled):
		c.Reason = fleetv1.ReasonAuthDisabled
	case errors.As(err, &netErr), isConnectError(err), errors.As(err, &etcdDown):
		c.Reason = fleetv1.ReasonUnreachable
	default:
		c.Reason = fleetv1.ReasonError
	}
	c.Status, c.Message = metav1.ConditionFalse, err.Error()
	return c
}

// isConnectError: pgx wraps a refused or timed-out dial in its own type.
func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}
