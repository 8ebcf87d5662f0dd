package stores

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseEtcdBackend(t *testing.T) {
	good := EtcdBackend{Endpoints: "https://e1:2379,https://e2:2379", Prefix: "/vfleet-x", CA: []byte("ca"), Cert: []byte("cert"), Key: []byte("key")}
	for _, tc := range []struct {
		name    string
		backend string
		ok      bool
		err     string
		want    EtcdBackend
	}{
		{name: "round trip", backend: good.String(), ok: true, want: good},
		{name: "without a CA: the system's roots", backend: EtcdBackend{Endpoints: "https://e:2379", Prefix: "/p", Cert: []byte("c"), Key: []byte("k")}.String(), ok: true,
			want: EtcdBackend{Endpoints: "https://e:2379", Prefix: "/p", Cert: []byte("c"), Key: []byte("k")}},
		{name: "a kine endpoint is not one", backend: "postgres://u:p@db:5432/x", ok: false},
		{name: "SQLite is not one", backend: EmbeddedBackend("/data"), ok: false},
		{name: "no prefix", backend: EtcdBackend{Endpoints: "https://e:2379", Cert: []byte("c"), Key: []byte("k")}.String(), ok: true, err: "prefix"},
		{name: "no certificate", backend: EtcdBackend{Endpoints: "https://e:2379", Prefix: "/p"}.String(), ok: true, err: "certificate"},
		{name: "not base64", backend: etcdBackendScheme + "%%%", ok: true, err: "etcd backend"},
		{name: "not JSON", backend: etcdBackendScheme + "bm90IGpzb24", ok: true, err: "etcd backend"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := ParseEtcdBackend(tc.backend)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.ok && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestRedactHidesCredentials: messages name where the store is, never
// the password or the key.
func TestRedactHidesCredentials(t *testing.T) {
	etcd := EtcdBackend{Endpoints: "https://e:2379", Prefix: "/vfleet-x", Cert: []byte("CERT"), Key: []byte("SECRET-KEY")}.String()
	if got := Redact(etcd); got != "https://e:2379/vfleet-x" {
		t.Errorf("Redact(etcd) = %q", got)
	}
	if got := Redact("postgres://u:hunter2@db:5432/x"); strings.Contains(got, "hunter2") {
		t.Errorf("Redact(postgres) = %q", got)
	}
}

// FuzzParseEtcdBackend: any string is refused or parsed without a panic,
// and what parses encodes back to the same backend.
func FuzzParseEtcdBackend(f *testing.F) {
	f.Add(EtcdBackend{Endpoints: "https://e:2379", Prefix: "/p", Cert: []byte("c"), Key: []byte("k")}.String())
	f.Add(etcdBackendScheme + "e30")
	f.Add("sqlite:///x")
	f.Fuzz(func(t *testing.T, s string) {
		b, ok, err := ParseEtcdBackend(s)
		if !ok || err != nil {
			return
		}
		again, ok, err := ParseEtcdBackend(b.String())
		if !ok || err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("%+v does not survive encoding: %+v %v %v", b, again, ok, err)
		}
	})
}
