# Reference values for longmod's Rubin's rules and MAR multiple imputation (R mice).
#
# 1. Exact pooling: the 20 completed datasets written by make_case.py (longmod's imputations) are
#    read back as a mids object and pooled by mice::pool (Rubin's rules, Barnard-Rubin df) for the
#    ANCOVA lm(V3 ~ group + base + stratum).
# 2. Distribution: mice's own imputations of the same incomplete data (FCS, Bayesian linear
#    regression "norm", every other variable as predictor; m = 500) pooled the same way, to compare
#    with longmod's MMRM-based MI within Monte Carlo error.
#
#   Rscript tests/reference/mice/pool_mice.R     # writes pool_mice.json beside this script
#   Rscript pool_mice.R OUT.json --exact-only    # part 1 only, to OUT.json (the test's re-run; part 2
#                                                # takes minutes)
suppressPackageStartupMessages(library(mice))
script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
}
here <- script_dir()
args <- commandArgs(TRUE)
exact_only <- "--exact-only" %in% args
out_path <- c(args[args != "--exact-only"], file.path(here, "pool_mice.json"))[1]
inc <- read.csv(file.path(here, "mi_case_incomplete.csv"), stringsAsFactors = FALSE)
inc$group <- factor(inc$group, levels = c("ctl", "trt"))
comp <- read.csv(file.path(here, "mi_case_completed.csv"), stringsAsFactors = FALSE, check.names = FALSE)
comp$group <- factor(comp$group, levels = c("ctl", "trt"))

pooled_row <- function(mira, term = "grouptrt") {
  p <- pool(mira)
  s <- summary(p, conf.int = TRUE, conf.level = 0.95)
  pr <- p$pooled[p$pooled$term == term, ]
  sr <- s[s$term == term, ]
  list(estimate = pr$estimate, ubar = pr$ubar, b = pr$b, t = pr$t, dfcom = pr$dfcom, df = pr$df,
       riv = pr$riv, lambda = pr$lambda, fmi = pr$fmi, std_error = sr$std.error, statistic = sr$statistic,
       p_value = sr$p.value, conf_low = sr[["2.5 %"]], conf_high = sr[["97.5 %"]], m = pr$m)
}

# 1. the same completed datasets
orig <- inc
orig$.imp <- 0
long <- rbind(orig[, names(comp)[names(comp) != ".imp"] |> c(".imp")],
              comp[, c(names(comp)[names(comp) != ".imp"], ".imp")])
long$.id <- rep(seq_len(nrow(inc)), 1 + max(comp$.imp))
imp_same <- as.mids(long, .imp = ".imp", .id = ".id")
exact <- pooled_row(with(imp_same, lm(V3 ~ group + base + stratum)))
per_imp <- lapply(split(comp, comp$.imp), function(d) {
  f <- summary(lm(V3 ~ group + base + stratum, data = d))$coefficients
  c(estimate = f["grouptrt", "Estimate"], std_error = f["grouptrt", "Std. Error"])
})

# 2. mice's own imputations (FCS norm)
dist <- NULL
if (!exact_only) {
  dat <- inc[, c("group", "base", "stratum", "V1", "V2", "V3")]
  meth <- make.method(dat)
  meth[c("V2", "V3")] <- "norm"
  imp_mice <- mice(dat, m = 500, maxit = 10, method = meth, seed = 20261201, printFlag = FALSE)
  dist <- pooled_row(with(imp_mice, lm(V3 ~ group + base + stratum)))
}

out <- list(
  case = "tests/reference/mice/mi_case_*.csv (make_case.py)",
  analysis = "lm(V3 ~ group + base + stratum), term grouptrt",
  exact_same_imputations = exact,
  per_imputation = unname(lapply(per_imp, as.list)),
  mice_norm_m500 = dist,
  session = list(R = R.version.string, mice = as.character(packageVersion("mice")))
)
jsonlite::write_json(out, out_path, digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", out_path, "\n")
