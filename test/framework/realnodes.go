package framework

import (
	"bytes"
	"context"
	"io"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/lab/realnode"
)

// OnRealNodes puts a pod on the lab's real nodes, as the lab's real-nodes
// class allows: their kind, their taint, and a user that is not root (the
// syncer runs no host pod as root).
func OnRealNodes(spec *corev1.PodSpec) {
	spec.NodeSelector = map[string]string{realnode.LabelKind: realnode.KindReal}
	spec.Tolerations = []corev1.Toleration{lab.RealNodeToleration}
	spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000))}
}

// Exec runs command in container of the pod namespace/name through the
// API at cfg, as kubectl exec does (WebSocket, falling back to SPDY), and
// returns its output.
func Exec(ctx context.Context, cfg *rest.Config, kube kubernetes.Interface, namespace, pod, container string, command ...string) (string, error) {
	req := kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return "", err
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	executor, err := remotecommand.NewFallbackExecutor(ws, spdy, func(error) bool { return true })
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	_, _ = io.Copy(GinkgoWriter, &stderr)
	return strings.TrimSpace(stdout.String()), err
}
