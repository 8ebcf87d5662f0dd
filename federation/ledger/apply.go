package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Op names what a command does.
type Op string

const (
	// OpReportRegion replaces a region's hosts with those its hub reports.
	OpReportRegion Op = "ReportRegion"
	// OpHome records a vcluster with its home region and store: at epoch
	// 0 if new, or, for one that ran before the federation knew it (its
	// hub joined with it), at its epoch on its host, every earlier epoch
	// fenced. A vcluster the ledger has keeps its epochs; one that lives
	// in another region is refused (ErrElsewhere).
	OpHome Op = "Home"
	// OpBumpEpoch moves a vcluster to its next epoch, on a host, if its
	// epoch is still the one the proposer read and that epoch is fenced.
	OpBumpEpoch Op = "BumpEpoch"
	// OpFence records that a vcluster's epochs up to one are fenced on its
	// store.
	OpFence Op = "Fence"
	// OpForget removes a vcluster that was deleted.
	OpForget Op = "Forget"
	// OpClaim makes a vcluster another region's, at the epoch the
	// claimant read: a surviving region's hub takes over a vcluster of a
	// region that stopped reporting. Its epoch moves on only through the
	// claimant's fence and bump.
	OpClaim Op = "Claim"
)

// Command is one entry of the raft log. Which fields count depends on Op.
type Command struct {
	Op Op `json:"op"`
	// ReportRegion: the region, its hub, when, all its hosts, and the
	// phase of the vclusters it runs.
	Region    *Region         `json:"region,omitempty"`
	Hosts     []Host          `json:"hosts,omitempty"`
	VClusters []VClusterState `json:"vclusters,omitempty"`
	// Home, BumpEpoch, Fence, Forget: the vcluster.
	Key string `json:"key,omitempty"`
	// Home: its home region, store, spec and store UID. Claim: the
	// claiming region.
	UID   string          `json:"uid,omitempty"`
	Home  string          `json:"home,omitempty"`
	Store string          `json:"store,omitempty"`
	Spec  json.RawMessage `json:"spec,omitempty"`
	// BumpEpoch, Claim: the epoch the proposer read. BumpEpoch: the host
	// of the next. Home: the host of a vcluster that already runs.
	From int64  `json:"from,omitempty"`
	Host string `json:"host,omitempty"`
	// Fence: the highest epoch fenced. Home: the epoch of a vcluster that
	// already runs.
	Epoch int64 `json:"epoch,omitempty"`
}

// VClusterState is what a region's report says of one of its vclusters.
type VClusterState struct {
	Key   string `json:"key"`
	Phase string `json:"phase,omitempty"`
	Ready bool   `json:"ready,omitempty"`
}

// maxPhase bounds a reported phase: a VirtualCluster's phases are short
// words.
const maxPhase = 32

// maxStores bounds the stores a region reports: every hub keeps every
// region's list.
const maxStores = 256

// ErrStaleEpoch is returned by a BumpEpoch whose proposer read an epoch
// that is no longer the vcluster's: another hub moved it first.
var ErrStaleEpoch = errors.New("the vcluster's epoch moved since it was read")

// ErrNotFenced is returned by a BumpEpoch while the current epoch may
// still write: a new epoch starts only after the old one is fenced.
var ErrNotFenced = errors.New("the current epoch is not fenced on the store yet")

// ErrElsewhere is returned by a Home of a vcluster that lives in another
// region: a region lost it to a failover, or two regions have one of the
// same name.
var ErrElsewhere = errors.New("the vcluster lives in another region")

// ErrUnknownHost is returned by a command that names a host its region
// has not reported (yet).
var ErrUnknownHost = errors.New("the host is not in the ledger")

// ErrRefused matches every Refusal, whatever its reason: the command was
// committed and changed nothing, which proposing it again will not change.
var ErrRefused = errors.New("the ledger refused the command")

// Refusal is a command the ledger refused, and why: it changed nothing.
type Refusal struct{ Err error }

func (r *Refusal) Error() string        { return r.Err.Error() }
func (r *Refusal) Unwrap() error        { return r.Err }
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

// Apply applies c to s and returns the vcluster's epoch after it (for
// Home, BumpEpoch and Fence). It changes nothing when it returns an error,
// always a *Refusal, so every hub that applies the same log holds the same
// ledger whatever its entries asked.
func (s *State) Apply(c Command) (int64, error) {
	epoch, err := s.apply(c)
	if err != nil {
		return epoch, &Refusal{Err: err}
	}
	return epoch, nil
}

func (s *State) apply(c Command) (int64, error) {
	switch c.Op {
	case OpReportRegion:
		return 0, s.reportRegion(c.Region, c.Hosts, c.VClusters)
	case OpHome, OpBumpEpoch, OpFence, OpForget, OpClaim:
		if err := checkKey(c.Key); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("unknown ledger operation %q", c.Op)
	}
	vc, known := s.VClusters[c.Key]
	if !known && c.Op != OpHome {
		if c.Op == OpForget {
			return 0, nil
		}
		return 0, fmt.Errorf("vcluster %s is not in the ledger", c.Key)
	}
	switch c.Op {
	case OpHome:
		if err := s.home(&vc, known, c); err != nil {
			return vc.Epoch, err
		}
	case OpBumpEpoch:
		host, ok := s.Hosts[c.Host]
		switch {
		case c.From+1 == vc.Epoch && c.Host == vc.Host:
			// The same move proposed again (its proposer did not learn
			// that it was committed): done already.
			return vc.Epoch, nil
		case c.From != vc.Epoch:
			return vc.Epoch, fmt.Errorf("vcluster %s: moving from epoch %d: %w (it is %d)", c.Key, c.From, ErrStaleEpoch, vc.Epoch)
		case vc.Epoch > 0 && vc.FencedEpoch < vc.Epoch:
			return vc.Epoch, fmt.Errorf("vcluster %s: epoch %d: %w", c.Key, vc.Epoch, ErrNotFenced)
		case !ok:
			return vc.Epoch, fmt.Errorf("vcluster %s: host %q: %w", c.Key, c.Host, ErrUnknownHost)
		}
		vc.Epoch, vc.Host, vc.Region, vc.ClaimedFrom = vc.Epoch+1, host.Name, host.Region, ""
	case OpFence:
		if c.Epoch < 0 || c.Epoch > vc.Epoch {
			return vc.Epoch, fmt.Errorf("vcluster %s: cannot fence epoch %d: its epochs are 1 to %d", c.Key, c.Epoch, vc.Epoch)
		}
		vc.FencedEpoch = max(vc.FencedEpoch, c.Epoch)
	case OpForget:
		delete(s.VClusters, c.Key)
		return 0, nil
	case OpClaim:
		switch _, ok := s.Regions[c.Home]; {
		case c.From != vc.Epoch:
			return vc.Epoch, fmt.Errorf("vcluster %s: claimed at epoch %d: %w (it is %d)", c.Key, c.From, ErrStaleEpoch, vc.Epoch)
		case !ok:
			return vc.Epoch, fmt.Errorf("vcluster %s: region %q is not in the federation", c.Key, c.Home)
		case c.Home == vc.Region:
			return vc.Epoch, fmt.Errorf("vcluster %s: region %s claims it from itself", c.Key, c.Home)
		}
		vc.Region, vc.ClaimedFrom = c.Home, vc.Region
	}
	s.VClusters[c.Key] = vc
	return vc.Epoch, nil
}

// home records c's vcluster in vc, new or known.
func (s *State) home(vc *VCluster, known bool, c Command) error {
	if _, ok := s.Regions[c.Home]; !ok {
		return fmt.Errorf("vcluster %s: region %q is not in the federation", c.Key, c.Home)
	}
	if known {
		if vc.Region != c.Home {
			return fmt.Errorf("vcluster %s: %w, %s (epoch %d on host %s)", c.Key, ErrElsewhere, vc.Region, vc.Epoch, vc.Host)
		}
		vc.Store, vc.Spec = c.Store, c.Spec
		return nil
	}
	*vc = VCluster{Key: c.Key, Region: c.Home, Store: c.Store, Spec: c.Spec, UID: c.UID}
	if c.Epoch == 0 && c.Host == "" {
		return nil
	}
	host, ok := s.Hosts[c.Host]
	switch {
	case c.Epoch < 1:
		return fmt.Errorf("vcluster %s: runs on host %s at epoch %d: epochs start at 1", c.Key, c.Host, c.Epoch)
	case !ok:
		return fmt.Errorf("vcluster %s: host %q: %w", c.Key, c.Host, ErrUnknownHost)
	case host.Region != c.Home:
		return fmt.Errorf("vcluster %s: homed in region %s, runs on host %s of region %s", c.Key, c.Home, c.Host, host.Region)
	}
	vc.Host, vc.Epoch, vc.FencedEpoch = c.Host, c.Epoch, c.Epoch-1
	return nil
}

// reportRegion replaces region's hosts with hosts, all of which must be
// the region's: a hub reports for its own region only.
func (s *State) reportRegion(region *Region, hosts []Host, vclusters []VClusterState) error {
	if region == nil {
		return errors.New("a region report names no region")
	}
	if err := checkName("region", region.Name); err != nil {
		return err
	}
	if err := checkName("hub", region.Hub); err != nil {
		return err
	}
	if region.Reported.IsZero() {
		return fmt.Errorf("region %s: the report has no time", region.Name)
	}
	if region.Steady.After(region.Reported) {
		return fmt.Errorf("region %s: the report says it has been steady since %s, after its own time %s", region.Name, region.Steady.UTC().Format(time.RFC3339), region.Reported.UTC().Format(time.RFC3339))
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if err := checkName("host", h.Name); err != nil {
			return err
		}
		if h.Region != region.Name {
			return fmt.Errorf("region %s reports host %s of region %q", region.Name, h.Name, h.Region)
		}
		if other, ok := s.Hosts[h.Name]; ok && other.Region != region.Name {
			return fmt.Errorf("region %s reports host %s, which is region %s's", region.Name, h.Name, other.Region)
		}
		if seen[h.Name] {
			return fmt.Errorf("region %s reports host %s twice", region.Name, h.Name)
		}
		seen[h.Name] = true
	}
	for _, v := range vclusters {
		if err := checkKey(v.Key); err != nil {
			return err
		}
		if len(v.Phase) > maxPhase {
			return fmt.Errorf("region %s reports vcluster %s in a phase of %d characters: at most %d", region.Name, v.Key, len(v.Phase), maxPhase)
		}
	}
	if err := checkStores(region); err != nil {
		return err
	}
	// An older report, applied late, does not undo a newer one.
	if prev, ok := s.Regions[region.Name]; ok && prev.Reported.After(region.Reported) {
		return nil
	}
	for name, h := range s.Hosts {
		if h.Region == region.Name && !seen[name] {
			delete(s.Hosts, name)
		}
	}
	for _, h := range hosts {
		s.Hosts[h.Name] = h
	}
	// Only what the region runs: one it reports that another region took
	// over (its stale view) changes nothing.
	for _, v := range vclusters {
		if vc, ok := s.VClusters[v.Key]; ok && vc.Region == region.Name {
			vc.Phase, vc.Ready = v.Phase, v.Ready
			s.VClusters[v.Key] = vc
		}
	}
	s.Regions[region.Name] = Region{
		Name: region.Name, Hub: region.Hub, Reported: utcMillis(region.Reported),
		Steady: utcMillis(region.Steady), Stores: slices.Sorted(slices.Values(region.Stores)),
	}
	return nil
}

// checkStores refuses a report of too many stores, or of one twice or by
// a name no BackingStore can have.
func checkStores(region *Region) error {
	if len(region.Stores) > maxStores {
		return fmt.Errorf("region %s reports %d stores: at most %d", region.Name, len(region.Stores), maxStores)
	}
	seen := map[string]bool{}
	for _, name := range region.Stores {
		if err := checkName("store", name); err != nil {
			return fmt.Errorf("region %s: %w", region.Name, err)
		}
		if seen[name] {
			return fmt.Errorf("region %s reports store %s twice", region.Name, name)
		}
		seen[name] = true
	}
	return nil
}

// RegionHosts returns the names of region's hosts, sorted.
func (s *State) RegionHosts(region string) []string {
	var names []string
	for name, h := range s.Hosts {
		if h.Region == region {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// utcMillis is t as the ledger keeps times, in UTC to the millisecond,
// so that every replica's state, and its snapshot, is the same; the zero
// time stays zero.
func utcMillis(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}
