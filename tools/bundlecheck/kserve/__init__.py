"""What KServe (v0.20, Standard mode) builds from the manifests: the merged ``kserve-container``,
the pods and their labels, the predictor Pod and the command its kubelet runs."""
