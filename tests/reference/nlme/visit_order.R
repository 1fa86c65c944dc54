# Visit order and spatial covariance reference (nlme::gls), for longmod's visit-order tests.
# fev_data (openpharma/mmrm, Apache-2.0) with its four visits placed on unequally spaced days
# 1, 2, 7, 14 and labelled "D1", "D2", "D7", "D14" (sorting the labels as text would give
# D1, D14, D2, D7). Fits, REML, FEV1 ~ ARMCD * visit with the visit factor in time order:
#   ar1:    corAR1(form = ~ vidx | USUBJID), vidx = 1..4 the visit index in time order
#   sp_exp: corExp(form = ~ day | USUBJID), corr = exp(-|day_i - day_j| / range)
# and the TRT - PBO contrast at each visit (emmeans, same fit; estimate and SE).
# Writes visit_order.json and visit_order.csv (the data longmod reads) beside this script.
#   Rscript tests/reference/nlme/visit_order.R [path/to/fev_data.csv]
suppressPackageStartupMessages({library(nlme); library(emmeans); library(jsonlite)})
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
a <- commandArgs(TRUE)
path <- if (length(a)) a[1] else file.path(here, "..", "mmrm", "fev_data.csv")
raw <- read.csv(path, stringsAsFactors = FALSE)
days <- c(1, 2, 7, 14)
raw$day <- days[raw$VISITN]
raw$visit <- paste0("D", raw$day)
out_csv <- raw[, c("USUBJID", "visit", "day", "ARMCD", "FEV1")]
write.csv(out_csv, file.path(here, "visit_order.csv"), row.names = FALSE)

d <- raw[!is.na(raw$FEV1), ]
d$visit <- factor(d$visit, levels = paste0("D", days))  # time order, not text order
d$ARMCD <- factor(d$ARMCD, levels = c("PBO", "TRT"))
d$vidx <- as.integer(d$visit)
d <- d[order(d$USUBJID, d$day), ]
ctrl <- glsControl(tolerance = 1e-10, msTol = 1e-10, maxIter = 500, msMaxIter = 500)

one <- function(cor) {
  f <- gls(FEV1 ~ ARMCD * visit, data = d, correlation = cor, method = "REML", control = ctrl)
  em <- as.data.frame(contrast(emmeans(f, ~ ARMCD | visit, mode = "df.error"), method = "revpairwise"))
  list(
    neg2_log_likelihood = -2 * as.numeric(logLik(f)),
    coef = as.list(coef(f)), se = as.list(sqrt(diag(vcov(f)))),
    sigma2 = f$sigma^2,
    correlation_parameter = as.numeric(coef(f$modelStruct$corStruct, unconstrained = FALSE)),
    contrasts = list(visit = as.character(em$visit), estimate = em$estimate, se = em$SE)
  )
}
res <- list(
  source = "tests/reference/nlme/visit_order.R",
  data = "visit_order.csv: fev_data.csv (openpharma/mmrm, Apache-2.0) with day = (1, 2, 7, 14)[VISITN], visit = 'D<day>'",
  session = list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                 emmeans = as.character(packageVersion("emmeans"))),
  visit_levels_time_order = levels(d$visit),
  n_obs = nrow(d),
  ar1 = one(corAR1(form = ~ vidx | USUBJID)),
  sp_exp = one(corExp(form = ~ day | USUBJID))
)
write_json(res, file.path(here, "visit_order.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", file.path(here, "visit_order.json"), "\n")
