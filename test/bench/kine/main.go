// Command kine runs kine alone over SQLite in a directory, as one would by
// hand next to a bare kube-apiserver: the baseline of the control-plane
// benchmark. It uses kine's library with its CLI's defaults, as vfleet's
// control plane does, so the two differ only in what vfleet adds.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/vfleet/vfleet/controlplane"
	"github.com/vfleet/vfleet/stores"
)

func main() {
	dir := flag.String("data-dir", "", "directory for the database and the socket")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	listener, err := controlplane.StartStore(ctx, &wg, *dir, stores.EmbeddedBackend(*dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(listener.Servers)
	<-ctx.Done()
	wg.Wait()
}
