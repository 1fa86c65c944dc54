# Independent R reference for the STROMA-CoV-2 primary analysis on longmod's
# bundled (synthetic) fixture. Applies the protocol's imputation rules in R
# (death -> 50; ICU discharge -> last observed value x 1.10; LOCF sensitivity;
# additive reading LOCF + 10% of D0; per protocol = 3 doses), then fits
#   lm(change ~ arm + baseline + age_gt70 + sofa_gt11)
# and runs wilcox.test (rank-sum with Hodges-Lehmann CI; exact signed-rank).
#
# Usage (from the repository root):
#   Rscript tests/reference/r_ancova/primary.R fixtures/stroma_cov2 tests/reference/r_ancova/primary.json
suppressMessages(library(jsonlite))
args <- commandArgs(trailingOnly = TRUE)
folder <- if (length(args) >= 1) args[1] else "fixtures/stroma_cov2"
out <- if (length(args) >= 2) args[2] else "tests/reference/r_ancova/primary.json"

pts <- read.csv(file.path(folder, "patients.csv"), colClasses = c(patient_id = "character"))
ms <- read.csv(file.path(folder, "measurements.csv"), colClasses = c(patient_id = "character"))
pf <- ms[ms$variable == "pao2_fio2" & !is.na(ms$value), ]

endpoint <- function(rule) {
  rows <- lapply(seq_len(nrow(pts)), function(i) {
    p <- pts[i, ]
    v <- pf[pf$patient_id == p$patient_id, ]
    v <- v[order(v$day), ]
    base <- v$value[v$day == 0]
    d7 <- v$value[v$day == 7]
    death <- p$death_day; disc <- p$icu_discharge_day
    event <- if (!is.na(death) && (is.na(disc) || death <= disc)) "death" else if (!is.na(disc)) "discharge" else "none"
    eday <- if (event == "death") death else if (event == "discharge") disc else NA
    upto <- v[v$day <= (if (event == "none") 7 else min(7, eday)), ]
    last <- upto$value[nrow(upto)]
    val <- NA_real_
    if (length(d7) == 1) val <- d7
    else if (event == "death" && eday <= 7) val <- if (rule == "locf_all") last else 50
    else if (event == "discharge" && eday <= 7) {
      val <- switch(rule, primary = 1.10 * last, locf = last, additive = last + 0.10 * base,
                    per_protocol = 1.10 * last, locf_all = last, observed = NA_real_)
    }
    if (rule == "observed" && length(d7) == 0) val <- NA_real_
    data.frame(patient_id = p$patient_id, arm = p$arm, age_gt70 = p$age_gt70, sofa_gt11 = p$sofa_gt11,
               doses = p$doses_received, baseline = base, value = val)
  })
  d <- do.call(rbind, rows)
  if (rule == "per_protocol") d <- d[d$doses == 3, ]
  d <- d[!is.na(d$value), ]
  d$change <- d$value - d$baseline
  d$arm <- factor(d$arm, levels = c("placebo", "uc_msc"))
  d
}

ancova <- function(d) {
  fit <- lm(change ~ arm + baseline + age_gt70 + sofa_gt11, data = d)
  co <- summary(fit)$coefficients["armuc_msc", ]
  ci <- confint(fit)["armuc_msc", ]
  list(estimate = unname(co["Estimate"]), std_error = unname(co["Std. Error"]), df = fit$df.residual,
       conf_low = unname(ci[1]), conf_high = unname(ci[2]), p_value = unname(co["Pr(>|t|)"]),
       residual_sd = summary(fit)$sigma, n = nrow(d))
}

res <- list()
for (rule in c("primary", "locf", "additive", "per_protocol", "observed")) res[[paste0("ancova_", rule)]] <- ancova(endpoint(rule))

d <- endpoint("primary")
w <- wilcox.test(d$change[d$arm == "uc_msc"], d$change[d$arm == "placebo"], conf.int = TRUE)
res$rank_sum <- list(statistic = unname(w$statistic), p_value = w$p.value, estimate = unname(w$estimate),
                     conf_low = w$conf.int[1], conf_high = w$conf.int[2])
q <- function(x) unname(quantile(x, c(0.25, 0.5, 0.75), type = 7))
res$quantiles_change <- list(uc_msc = q(d$change[d$arm == "uc_msc"]), placebo = q(d$change[d$arm == "placebo"]))
for (rule in c("primary", "observed")) {
  d <- endpoint(rule)
  for (a in c("uc_msc", "placebo")) {
    g <- d[d$arm == a, ]
    s <- wilcox.test(g$value, g$baseline, paired = TRUE, exact = TRUE)
    res[[paste0("signed_rank_", rule, "_", a)]] <- list(statistic = unname(s$statistic), p_value = s$p.value, n = nrow(g))
  }
}
res$inputs <- list(md5 = as.list(tools::md5sum(file.path(folder, c("patients.csv", "measurements.csv")))),
                   r_version = R.version.string)
names(res$inputs$md5) <- c("patients.csv", "measurements.csv")
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
