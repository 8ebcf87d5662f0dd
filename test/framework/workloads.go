package framework

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// CreateDeploymentInput is the input of CreateDeployment.
type CreateDeploymentInput struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
	Replicas  int32
	// Image defaults to the pause image; kwok runs nothing anyway.
	Image string
}

// CreateDeployment creates a Deployment whose pods are labelled app=<Name>.
func CreateDeployment(ctx context.Context, in CreateDeploymentInput) *appsv1.Deployment {
	if in.Image == "" {
		in.Image = "registry.k8s.io/pause:3.10"
	}
	labels := map[string]string{"app": in.Name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: in.Name, Namespace: in.Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(in.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "main",
					Image: in.Image,
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: *resourceMilli(100), corev1.ResourceMemory: *resourceMi(64),
					}},
				}}},
			},
		},
	}
	created, err := in.Client.AppsV1().Deployments(in.Namespace).Create(ctx, d, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred(), "create deployment %s/%s", in.Namespace, in.Name)
	return created
}

// WaitForRunningPodsInput is the input of WaitForRunningPods.
type WaitForRunningPodsInput struct {
	Client    kubernetes.Interface
	Namespace string
	// Selector is a label selector, for example "app=web".
	Selector string
	Count    int
	// Timeout defaults to a minute.
	Timeout time.Duration
}

// WaitForRunningPods waits until exactly Count pods match and all are
// Running and Ready.
func WaitForRunningPods(ctx context.Context, in WaitForRunningPodsInput) {
	if in.Timeout == 0 {
		in.Timeout = time.Minute
	}
	Eventually(func(g Gomega) {
		pods, err := in.Client.CoreV1().Pods(in.Namespace).List(ctx, metav1.ListOptions{LabelSelector: in.Selector})
		g.Expect(err).NotTo(HaveOccurred())
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && podReady(&p) {
				running++
			}
		}
		g.Expect(running).To(Equal(in.Count), "Running and Ready pods matching %q in %s (of %d)", in.Selector, in.Namespace, len(pods.Items))
		g.Expect(pods.Items).To(HaveLen(in.Count))
	}).WithContext(ctx).WithTimeout(in.Timeout).Should(Succeed())
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// DeploymentAvailable returns a function for Eventually that fails until the
// Deployment reports want available replicas.
func DeploymentAvailable(ctx context.Context, client kubernetes.Interface, namespace, name string, want int32) func(Gomega) {
	return func(g Gomega) {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Status.AvailableReplicas).To(Equal(want), fmt.Sprintf("available replicas of %s/%s", namespace, name))
	}
}
