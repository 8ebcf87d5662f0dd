# Sourced by the scripts that build Kubernetes binaries (hack/tools,
# hack/conformance).

# k8s_version_ldflags VERSION prints the -X flags that stamp VERSION into
# Kubernetes' version packages. Its components report the version stamped
# at link time (/version, version-skew checks, the e2e suite's check of the
# cluster); without it they say v0.0.0-master.
k8s_version_ldflags() {
	local version=$1 minor flags="" pkg
	minor=${version#v1.}
	minor=${minor%%.*}
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done
	printf '%s' "$flags"
}
