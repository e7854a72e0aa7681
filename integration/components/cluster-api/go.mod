// Pins the Cluster API release the sandbox installs the CRDs of (read from the module cache at run time)
// and builds its core manager and kubeadm bootstrap provider (CABPK) from.
// Cluster API's own go.mod replaces sigs.k8s.io/cluster-api/api with ./api, a replace a dependent module
// ignores, so the api module is required here at the same version.
module kubeswap.invalid/components/cluster-api

go 1.26.0

require (
	sigs.k8s.io/cluster-api v1.14.2
	sigs.k8s.io/cluster-api/api v1.14.2
)
