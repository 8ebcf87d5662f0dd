package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/stores/postgres"
	"github.com/vfleet/vfleet/test/pgtest"
)

// TestExternalPostgresControlPlane keeps a vcluster's state in a database
// on a real PostgreSQL server, over a connection that verifies it: what is written is in the database's kine
// table, and a control plane started on a fresh data directory (another
// host, say) finds it there.
func TestExternalPostgresControlPlane(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	if err := pg.CreateDatabase(ctx, "vc_one"); err != nil {
		t.Fatal(err)
	}
	// As the agent hands it over: verified by the store's CA, which the
	// backend carries and kine reads from a file.
	ca, err := pg.CA()
	if err != nil {
		t.Fatal(err)
	}
	backend := postgres.WithCA(postgres.URL(pg.Endpoint(), "vc_one", pgserver.AdminUser, pg.AdminPassword(), postgres.VerifiedSSLMode), ca)
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	first := t.TempDir()
	cp, stop, log := startOn(t, first, ports[0], backend)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "in-postgres", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := client(t, cp).CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	stop()
	if _, err := os.Stat(filepath.Join(first, "state.db")); err == nil {
		t.Fatal("an External control plane wrote a SQLite database")
	}

	conn, err := pg.Connect(ctx, "vc_one")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM kine WHERE name = '/registry/configmaps/default/in-postgres'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	if n == 0 {
		t.Fatal("the ConfigMap is not in the database")
	}

	// Another data directory: new PKI, same state.
	cp, _, _ = startOn(t, t.TempDir(), ports[0], backend)
	got, err := client(t, cp).CoreV1().ConfigMaps("default").Get(ctx, "in-postgres", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("from the database: %v %v", got, err)
	}
}
