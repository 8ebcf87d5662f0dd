package v1alpha1

// GatewayRoute is the gateway's route to a vcluster's control plane.
type GatewayRoute struct {
	// serverName is the TLS server name (SNI) tenants' kubeconfigs carry
	// and the gateway routes by.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ServerName string `json:"serverName"`

	// address is host:port of the current epoch's apiserver. Empty while
	// none may be reached (being placed, failing over, asleep): the
	// gateway holds new connections until it is set.
	// +optional
	// +kubebuilder:validation:MaxLength=261
	Address string `json:"address,omitempty"`

	// epoch of the control plane at address. The gateway never routes to
	// an epoch whose fence has begun.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Epoch int64 `json:"epoch,omitempty"`
}
