# Reference values for longmod.biomarkers.tobit.fit_tobit (fixed-effects left-censored Gaussian).
# Input : tobit_input.csv (columns y, event, arm, day, x), written by
#         tests/biomarkers/test_tobit_vs_r.py from seeded SYNTHETIC data; event = 1 observed,
#         0 left-censored at y (the log10 LLOQ).
# Output: tobit_survreg.json beside this script.
# Run   : Rscript tobit_survreg.R [input.csv] [output.json]
# Model : survival::survreg(Surv(y, event, type = "left") ~ arm + factor(day) + x, dist = "gaussian")
args <- commandArgs(trailingOnly = TRUE)
here <- tryCatch(dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))),
                 error = function(e) ".")
inp <- if (length(args) >= 1) args[1] else file.path(here, "tobit_input.csv")
out <- if (length(args) >= 2) args[2] else file.path(here, "tobit_survreg.json")
library(survival)
d <- read.csv(inp, stringsAsFactors = FALSE)
d$arm <- factor(d$arm, levels = c("placebo", "uc_msc"))
fit <- survreg(Surv(y, event, type = "left") ~ arm + factor(day) + x, data = d, dist = "gaussian",
               control = survreg.control(rel.tolerance = 1e-12, maxiter = 200))
v <- vcov(fit)
jsonlite::write_json(list(
  source = "survival::survreg(Surv(y, event, type = 'left') ~ arm + factor(day) + x, dist = 'gaussian')",
  r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
  terms = names(coef(fit)), coef = unname(coef(fit)), std_error = unname(sqrt(diag(v))[names(coef(fit))]),
  log_scale = log(fit$scale), se_log_scale = unname(sqrt(v["Log(scale)", "Log(scale)"])),
  loglik = fit$loglik[2], n = nrow(d), n_censored = sum(d$event == 0)),
  out, digits = NA, auto_unbox = TRUE, pretty = TRUE)
