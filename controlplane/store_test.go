package controlplane_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vfleet/vfleet/controlplane"
	"github.com/vfleet/vfleet/stores"
)

// TestKineSocketOfALongDirectory starts kine in a directory whose path is
// too long for a unix socket, as a vcluster and namespace of 63
// characters each make under any data directory: kine must still listen,
// serve, and leave nothing behind once stopped.
func TestKineSocketOfALongDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("v", 63)+"."+strings.Repeat("n", 63))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	ep, err := controlplane.StartStore(ctx, &wg, dir, stores.EmbeddedBackend(dir))
	if err != nil {
		t.Fatal(err)
	}
	sock := strings.TrimPrefix(ep.Servers, "unix://")
	if len(sock) > 107 {
		t.Fatalf("socket %s: %d bytes, longer than a socket path may be", sock, len(sock))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep.Servers}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	put, cancelPut := context.WithTimeout(ctx, 10*time.Second)
	defer cancelPut()
	if _, err := cli.Put(put, "/registry/test", "v"); err != nil {
		t.Fatalf("kine at %s does not serve: %v", sock, err)
	}

	cancel()
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Dir(sock)); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the socket's directory %s outlived kine", filepath.Dir(sock))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
