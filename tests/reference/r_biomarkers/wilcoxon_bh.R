# Reference values for longmod.biomarkers.paper (Wilcoxon tests + BH), R >= 4.2, base R + jsonlite.
# Input : wilcoxon_input.csv, written by tests/biomarkers/test_paper_vs_r.py from
#         longmod.biomarkers.simulate.simulate_biomarkers(12, seed=20240611) (SYNTHETIC data).
# Output: wilcoxon_bh.json beside this script.
# Run   : Rscript wilcoxon_bh.R [input.csv] [output.json]
# Rules : log10 scale; censored samples (below LLOQ) replaced by log10(LLOQ / 2);
#         rank-sum uc_msc vs placebo per marker and day: wilcox.test(x, y) (R's defaults:
#         exact when n < 50 and no ties, else normal approximation with continuity correction);
#         signed-rank within arm, day k vs day 0 on patients with both samples:
#         wilcox.test(y_k, y_0, paired = TRUE); BH across markers within each family
#         (one comparison on one day): p.adjust(p, method = "BH").
args <- commandArgs(trailingOnly = TRUE)
here <- tryCatch(dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))),
                 error = function(e) ".")
inp <- if (length(args) >= 1) args[1] else file.path(here, "wilcoxon_input.csv")
out <- if (length(args) >= 2) args[2] else file.path(here, "wilcoxon_bh.json")
d <- read.csv(inp, stringsAsFactors = FALSE, colClasses = c(patient_id = "character"))
d$censored <- as.logical(d$censored)
d$y <- ifelse(d$censored, log10(d$lloq / 2), log10(d$value))
rows <- list()
days <- sort(unique(d$day))
for (m in sort(unique(d$marker))) {
  for (k in days) {
    g <- d[d$marker == m & d$day == k, ]
    xa <- g$y[g$arm == "uc_msc"]; xr <- g$y[g$arm == "placebo"]
    w <- suppressWarnings(wilcox.test(xa, xr))
    rows[[length(rows) + 1]] <- data.frame(outcome = m, day = k, family = sprintf("uc_msc - placebo @ day %d", k),
                                           statistic = unname(w$statistic), p_value = w$p.value)
    if (k == days[1]) next
    for (a in c("uc_msc", "placebo")) {
      b0 <- d[d$marker == m & d$day == days[1] & d$arm == a, c("patient_id", "y")]
      bk <- g[g$arm == a, c("patient_id", "y")]
      p <- merge(b0, bk, by = "patient_id", suffixes = c("_0", "_k"))
      w <- suppressWarnings(wilcox.test(p$y_k, p$y_0, paired = TRUE))
      rows[[length(rows) + 1]] <- data.frame(outcome = m, day = k, family = sprintf("%s: day %d vs day %d", a, k, days[1]),
                                             statistic = unname(w$statistic), p_value = w$p.value)
    }
  }
}
res <- do.call(rbind, rows)
res$p_value_bh <- ave(res$p_value, res$family, FUN = function(p) p.adjust(p, method = "BH"))
jsonlite::write_json(list(source = "R wilcox.test + p.adjust(method = 'BH')", r_version = R.version.string,
                          rows = res), out, digits = NA, auto_unbox = TRUE, pretty = TRUE)
