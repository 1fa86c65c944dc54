# Reference values for longmod's ordinal engines (longmod/engines/ordinal).
# Run: Rscript tests/reference/ordinal/ordinal.R [folder] [out.json]
# Reads who_long.csv (written by make_data.py) and writes ordinal.json:
#  * clm and MASS::polr on day 7 (who ~ arm);
#  * clm on all rows (who ~ arm + day) - the fixed-effects baseline;
#  * clmm with a random intercept per patient, Laplace (nAGQ = 1) and adaptive
#    Gauss-Hermite (nAGQ = 10), for who ~ arm + day and who ~ arm + day_f.
suppressPackageStartupMessages({library(ordinal); library(MASS); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
here <- if (length(args) >= 1) args[1] else dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
out <- if (length(args) >= 2) args[2] else file.path(here, "ordinal.json")
d <- read.csv(file.path(here, "who_long.csv"), stringsAsFactors = FALSE)
d$arm <- factor(d$arm, levels = c("control", "active"))
d$id <- factor(d$id)
d$day_f <- factor(d$day_f)
res <- list(inputs = list(md5 = list(who_long = unname(tools::md5sum(file.path(here, "who_long.csv")))),
                          ordinal = as.character(packageVersion("ordinal")), MASS = as.character(packageVersion("MASS"))))
summ <- function(fit) {
  list(thresholds = unname(fit$alpha), beta = unname(fit$beta), vcov = unname(vcov(fit)),
       se = unname(sqrt(diag(vcov(fit)))), loglik = as.numeric(logLik(fit)),
       sigma_b = if (!is.null(fit$ST)) unname(fit$ST[[1]][1, 1]) else NULL)
}
d7 <- d[d$day == 7, ]
d7$who <- factor(d7$who)
res$clm_day7 <- summ(clm(who ~ arm, data = d7))
p <- polr(who ~ arm, data = d7, Hess = TRUE)
res$polr_day7 <- list(zeta = unname(p$zeta), beta = unname(coef(p)), se = unname(sqrt(diag(vcov(p)))),
                      loglik = as.numeric(logLik(p)))
dl <- d
dl$who <- factor(dl$who)
res$clm_all <- summ(clm(who ~ arm + day, data = dl))
# Laplace: clmm's inner Newton for the conditional modes stops at gradTol = 1e-4 by default, which
# leaves the Laplace objective noisy at ~1e-4; with gradTol = 1e-8 the modes are exact (R then warns
# that its step factor cannot shrink further: the modes are at machine precision) and the estimates
# and log-likelihood are the Laplace optimum. R's standard errors come from finite differences of that
# objective and are kept from the default run (see the tests for their tolerance).
tight <- clmm.control(gradTol = 1e-8)
res$clmm_laplace <- summ(suppressWarnings(clmm(who ~ arm + day + (1 | id), data = dl, nAGQ = 1, control = tight)))
res$clmm_laplace_default <- summ(clmm(who ~ arm + day + (1 | id), data = dl, nAGQ = 1))
res$clmm_agq10 <- summ(clmm(who ~ arm + day + (1 | id), data = dl, nAGQ = 10))
res$clmm_dayf_laplace <- summ(suppressWarnings(clmm(who ~ arm + day_f + (1 | id), data = dl, nAGQ = 1, control = tight)))
# the small example of the docstrings
s <- data.frame(who = factor(c(3, 4, 5, 3, 6, 4, 4, 5, 3, 3)), arm = factor(rep(c("a", "b"), 5)))
res$doc_example <- summ(clm(who ~ arm, data = s))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), out)
