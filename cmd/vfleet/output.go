package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// How the tenant commands print: objects as kubectl would, API errors as
// a person should read them, and the progress of a wait.

func nsFlag(ns string) string {
	if ns == "default" {
		return ""
	}
	return " -n " + ns
}

// apiError turns an API error into what a person should read: the API
// server's message says what to fix.
func apiError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return errors.New(status.Status().Message)
	}
	return err
}

func checkOutput(out string, extra ...string) error {
	for _, ok := range append([]string{"", "json", "yaml"}, extra...) {
		if out == ok {
			return nil
		}
	}
	return fmt.Errorf("--output %q: want %s", out, strings.Join(append([]string{"json", "yaml"}, extra...), ", "))
}

// printResult prints an object as kubectl does after a change.
func printResult(w io.Writer, out string, vc *fleetv1.VirtualCluster, verb string) error {
	switch out {
	case "json", "yaml":
		return printObject(w, out, vc)
	case "name":
		_, err := fmt.Fprintf(w, "virtualcluster.fleet.vfleet.dev/%s\n", vc.Name)
		return err
	}
	_, err := fmt.Fprintf(w, "virtualcluster.fleet.vfleet.dev/%s %s\n", vc.Name, verb)
	return err
}

func printObject(w io.Writer, out string, obj any) error {
	if o, ok := obj.(client.Object); ok {
		if l, isList := obj.(*fleetv1.VirtualClusterList); isList {
			l.APIVersion, l.Kind = "v1", "List"
			for i := range l.Items {
				l.Items[i].APIVersion, l.Items[i].Kind = fleetv1.GroupVersion.String(), "VirtualCluster"
				l.Items[i].ManagedFields = nil
			}
		} else {
			o.GetObjectKind().SetGroupVersionKind(fleetv1.GroupVersion.WithKind("VirtualCluster"))
			o.SetManagedFields(nil)
		}
	}
	data, err := json.MarshalIndent(obj, "", "    ")
	if err != nil {
		return err
	}
	if out == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return err
		}
	} else {
		data = append(data, '\n')
	}
	_, err = w.Write(data)
	return err
}

// progress shows what a wait is waiting for, one line per change.
type progress struct {
	w     io.Writer
	start time.Time
	last  string
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) show(line string) {
	if line == p.last {
		return
	}
	p.last = line
	fmt.Fprintf(p.w, "  [%5.1fs] %s\n", time.Since(p.start).Seconds(), line)
}
