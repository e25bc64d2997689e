// The consumer's own `plot` library target (adgraph's is adgraph::plot, file libadgraph_plot).
int consumer_plot() { return 2; }
