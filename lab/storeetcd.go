package lab

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/vfleet/vfleet/lab/etcdserver"
	"github.com/vfleet/vfleet/stores/etcdstore"
)

// initStoreEtcd writes the etcd store's PKI once, in the cluster's
// directory.
func (c *Cluster) initStoreEtcd() (*etcdserver.Server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.storeEtcd != nil {
		return c.storeEtcd, nil
	}
	var also []net.IP
	if c.region != nil {
		also = append(also, c.region.Bridge.IP)
	}
	s, err := etcdserver.Init(filepath.Join(c.paths.root, string(StoreEtcd)), filepath.Join(c.binDir, string(Etcd)), also...)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.Name, StoreEtcd, err)
	}
	c.storeEtcd = s
	return s, nil
}

// enableStoreEtcdAuth turns auth on, once, so that epochs can be fenced.
func (c *Cluster) enableStoreEtcdAuth(ctx context.Context) error {
	creds, err := c.StoreEtcdCredentials()
	if err != nil {
		return err
	}
	if err := etcdserver.EnableAuth(ctx, c.StoreEtcdEndpoint(), creds); err != nil {
		return fmt.Errorf("%s: %s: %w", c.Name, StoreEtcd, err)
	}
	return nil
}

// StoreEtcdEndpoint is the etcd store's client URL.
func (c *Cluster) StoreEtcdEndpoint() string {
	return "https://" + net.JoinHostPort(c.apiAddress().String(), strconv.Itoa(c.ports.StoreEtcdClient))
}

// StoreEtcdCredentials are the etcd store's root credentials and CAs.
func (c *Cluster) StoreEtcdCredentials() (etcdstore.AdminCredentials, error) {
	s, err := c.initStoreEtcd()
	if err != nil {
		return etcdstore.AdminCredentials{}, err
	}
	return s.Credentials()
}
