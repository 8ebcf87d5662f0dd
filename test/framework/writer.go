package framework

import (
	"context"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Writer creates ConfigMaps in a vcluster, one after another, and records
// every write the API acknowledged. It finds the vcluster through
// Kubeconfig, again after each failure, since a failover changes the
// endpoint (and a region's loss, the management cluster that has it).
type Writer struct {
	// Kubeconfig returns the vcluster's current kubeconfig, or nil.
	Kubeconfig func(context.Context) []byte

	mu    sync.Mutex
	acked []string
	// after counts acknowledged writes since Mark.
	after int
}

// Run writes until ctx ends.
func (w *Writer) Run(ctx context.Context) {
	var kube kubernetes.Interface
	for i := 0; ctx.Err() == nil; i++ {
		if kube == nil {
			if data := w.Kubeconfig(ctx); data != nil {
				if cfg, err := clientcmd.RESTConfigFromKubeConfig(data); err == nil {
					cfg.Timeout = 2 * time.Second
					kube, _ = kubernetes.NewForConfig(cfg)
				}
			}
		}
		if kube != nil {
			name := fmt.Sprintf("write-%05d", i)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": fmt.Sprint(i)}}
			if _, err := kube.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err == nil {
				w.mu.Lock()
				w.acked = append(w.acked, name)
				w.after++
				w.mu.Unlock()
			} else {
				kube = nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Mark starts counting acknowledged writes again from zero.
func (w *Writer) Mark() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.after = 0
}

// Since is how many writes were acknowledged since Mark.
func (w *Writer) Since() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.after
}

// All are the names of every acknowledged write.
func (w *Writer) All() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...)
}

// ExpectAllThere checks that every acknowledged write is in the vcluster.
func ExpectAllThere(ctx context.Context, cfg *rest.Config, acked []string) {
	kube, _ := VClusterClients(cfg)
	list, err := kube.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	have := map[string]bool{}
	for _, cm := range list.Items {
		have[cm.Name] = true
	}
	var lost []string
	for _, name := range acked {
		if !have[name] {
			lost = append(lost, name)
		}
	}
	Expect(lost).To(BeEmpty(), "acknowledged writes missing after the move (%d acknowledged)", len(acked))
}
