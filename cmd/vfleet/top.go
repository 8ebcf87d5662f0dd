package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/hub"
)

// `vfleet top` shows what the leading hub exports on its /metrics, as it
// exports it: it computes no figure of its own but the percentages.

func newTopCommand() *cobra.Command {
	var t target
	var hubNamespace string
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Show what hosts and vclusters hold, use and cost, as the hub exports it",
	}
	t.addFlags(cmd)
	cmd.PersistentFlags().StringVar(&hubNamespace, "hub-namespace", hub.DefaultNamespace, "namespace of the hub, where it publishes its metrics endpoint")
	hosts := &cobra.Command{
		Use:   "hosts",
		Short: "Per host: allocatable, committed and used CPU and memory, utilization, and cost per hour",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fams, err := scrapeHub(cmd.Context(), &t, hubNamespace)
			if err != nil {
				return err
			}
			return printHosts(cmd.OutOrStdout(), fams)
		},
	}
	vclusters := &cobra.Command{
		Use:   "vclusters",
		Short: "Per vcluster: reserved and requested CPU and memory, and cost per hour",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ns, err := t.client()
			if err != nil {
				return err
			}
			fams, err := scrapeHub(cmd.Context(), &t, hubNamespace)
			if err != nil {
				return err
			}
			if t.allNamespaces {
				ns = ""
			}
			return printVClusters(cmd.OutOrStdout(), fams, ns)
		},
	}
	vclusters.Flags().BoolVarP(&t.allNamespaces, "all-namespaces", "A", false, "show the vclusters of every namespace")
	cmd.AddCommand(hosts, vclusters)
	return cmd
}

// scrapeHub reads the leading hub's /metrics where it published it,
// with the kubeconfig's credentials (a client certificate or a token of
// the management cluster) and the CA the hub published.
func scrapeHub(ctx context.Context, t *target, namespace string) (map[string]*dto.MetricFamily, error) {
	cfg, err := t.loader().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, fleetv1.HubMetricsConfigMap, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("where the hub serves its metrics (ConfigMap %s/%s, which a hub run with --metrics-advertise-url writes): %w",
			namespace, fleetv1.HubMetricsConfigMap, apiError(err))
	}
	url := cm.Data[fleetv1.HubMetricsURLKey]
	hubCfg := rest.CopyConfig(cfg)
	hubCfg.Host, hubCfg.APIPath = url, ""
	hubCfg.CAFile, hubCfg.CAData = "", []byte(cm.Data[fleetv1.HubMetricsCAKey])
	hubCfg.Timeout = 30 * time.Second
	hc, err := rest.HTTPClientFor(hubCfg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the hub's metrics at %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the hub's metrics at %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("the hub's metrics at %s: %w", url, err)
	}
	if _, ok := fams["vfleet_hub_hosts"]; !ok {
		return nil, fmt.Errorf("the hub at %s exports no fleet: it does not lead (another replica took over since it published %s); try again", url, fleetv1.HubMetricsConfigMap)
	}
	return fams, nil
}

// series is one metric's labels and value.
type series struct {
	labels map[string]string
	value  float64
}

// seriesOf lists the series of name in fams.
func seriesOf(fams map[string]*dto.MetricFamily, name string) []series {
	var out []series
	for _, m := range fams[name].GetMetric() {
		s := series{labels: map[string]string{}, value: m.GetGauge().GetValue() + m.GetCounter().GetValue()}
		for _, l := range m.GetLabel() {
			s.labels[l.GetName()] = l.GetValue()
		}
		out = append(out, s)
	}
	return out
}

// hostRow is one host's line.
type hostRow struct {
	region      string
	cpu, memory [3]float64 // allocatable, committed, used
	cost        float64
	currency    string
	priced      bool
}

func printHosts(w io.Writer, fams map[string]*dto.MetricFamily) error {
	rows := map[string]*hostRow{}
	row := func(s series) *hostRow {
		r, ok := rows[s.labels["host"]]
		if !ok {
			r = &hostRow{region: s.labels["region"]}
			rows[s.labels["host"]] = r
		}
		return r
	}
	for i, name := range []string{"vfleet_hub_host_allocatable", "vfleet_hub_host_committed", "vfleet_hub_host_used"} {
		for _, s := range seriesOf(fams, name) {
			switch s.labels["resource"] {
			case string(corev1.ResourceCPU):
				row(s).cpu[i] = s.value
			case string(corev1.ResourceMemory):
				row(s).memory[i] = s.value
			}
		}
	}
	for _, s := range seriesOf(fams, "vfleet_hub_host_cost_per_hour") {
		if s.labels["basis"] == "allocatable" {
			r := row(s)
			r.cost, r.currency, r.priced = s.value, s.labels["currency"], true
		}
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No hosts in the fleet.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "HOST\tREGION\tCPU (ALLOC/COMMIT/USED)\tCPU%\tMEMORY (ALLOC/COMMIT/USED)\tMEMORY%\tCOST/H")
	for _, name := range sortedKeys(rows) {
		r := rows[name]
		fmt.Fprintf(tw, "%s\t%s\t%s/%s/%s\t%s\t%s/%s/%s\t%s\t%s\n", name, r.region,
			cpu(r.cpu[0]), cpu(r.cpu[1]), cpu(r.cpu[2]), percent(r.cpu[2], r.cpu[0]),
			memory(r.memory[0]), memory(r.memory[1]), memory(r.memory[2]), percent(r.memory[2], r.memory[0]),
			price(r.cost, r.currency, r.priced))
	}
	return tw.Flush()
}

// vclusterRow is one vcluster's line.
type vclusterRow struct {
	host                string
	reserved, requested [2]float64 // cpu, memory
	cost, idle          float64
	currency            string
	priced              bool
}

// printVClusters prints the vclusters of namespace, or of all for "".
func printVClusters(w io.Writer, fams map[string]*dto.MetricFamily, namespace string) error {
	rows := map[string]*vclusterRow{}
	row := func(s series) *vclusterRow {
		key := s.labels["namespace"] + "/" + s.labels["virtualcluster"]
		r, ok := rows[key]
		if !ok {
			r = &vclusterRow{host: s.labels["host"]}
			rows[key] = r
		}
		return r
	}
	mine := func(s series) bool { return namespace == "" || s.labels["namespace"] == namespace }
	for _, s := range seriesOf(fams, "vfleet_hub_virtualcluster_resources") {
		if !mine(s) {
			continue
		}
		i := 0
		if s.labels["resource"] == string(corev1.ResourceMemory) {
			i = 1
		}
		if s.labels["basis"] == "reserved" {
			row(s).reserved[i] = s.value
		} else {
			row(s).requested[i] = s.value
		}
	}
	for _, s := range seriesOf(fams, "vfleet_hub_virtualcluster_cost_per_hour") {
		if !mine(s) {
			continue
		}
		r := row(s)
		r.currency, r.priced = s.labels["currency"], true
		switch s.labels["basis"] {
		case "reserved":
			r.cost = s.value
		case "idle":
			r.idle = s.value
		}
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No vclusters hold anything on a host.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	head := "NAME\tHOST\tCPU (RESERVED/REQUESTED)\tMEMORY (RESERVED/REQUESTED)\tCOST/H\tIDLE/H"
	if namespace == "" {
		head = "NAMESPACE\t" + head
	}
	fmt.Fprintln(tw, head)
	for _, key := range sortedKeys(rows) {
		r := rows[key]
		ns, name, _ := strings.Cut(key, "/")
		line := fmt.Sprintf("%s\t%s\t%s/%s\t%s/%s\t%s\t%s", name, r.host, cpu(r.reserved[0]), cpu(r.requested[0]),
			memory(r.reserved[1]), memory(r.requested[1]), price(r.cost, r.currency, r.priced), price(r.idle, r.currency, r.priced))
		if namespace == "" {
			line = ns + "\t" + line
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cpu prints cores as Kubernetes does: 2, 500m.
func cpu(cores float64) string {
	return resource.NewMilliQuantity(int64(cores*1000+0.5), resource.DecimalSI).String()
}

// memory prints bytes in binary units: 4Gi, 512Mi.
func memory(bytes float64) string {
	for _, u := range []struct {
		unit string
		size float64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}} {
		if bytes >= u.size {
			return fmt.Sprintf("%.1f%s", bytes/u.size, u.unit)
		}
	}
	return resource.NewQuantity(int64(bytes), resource.BinarySI).String()
}

func percent(part, whole float64) string {
	if whole <= 0 {
		return "<none>"
	}
	return fmt.Sprintf("%.0f%%", 100*part/whole)
}

func price(v float64, currency string, priced bool) string {
	if !priced {
		return "<none>"
	}
	return fmt.Sprintf("%.4f %s", v, currency)
}
