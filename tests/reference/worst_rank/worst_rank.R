# Reference values for longmod's worst-rank composite (longmod/estimands/worst_rank.py), computed
# independently in base R:
#  * wins / losses / ties by an explicit double loop over (active, reference) pairs with the
#    prioritised rule (death by day 28 worst, earlier death worse; survivors by outcome, higher better);
#  * win ratio, probabilistic index theta, Mann-Whitney odds, net benefit;
#  * U-statistic variances from the structural components (per-patient win/loss proportions,
#    DeLong et al. 1988 / Bebu & Lachin 2016), delta-method 95% CIs on log WR and logit theta;
#  * the Finkelstein-Schoenfeld statistic by an explicit loop over all pooled pairs, and its P value
#    also from wilcox.test(exact = FALSE, correct = FALSE) on a scalar score that orders patients the
#    same way (deaths below every survivor, by day).
#
#   Rscript tests/reference/worst_rank/worst_rank.R   # writes worst_rank.json beside this script
script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
}
here <- script_dir()
args <- commandArgs(TRUE)
out_path <- c(args, file.path(here, "worst_rank.json"))[1]
d <- read.csv(file.path(here, "worst_rank_case.csv"), stringsAsFactors = FALSE)
horizon <- 28
died <- !is.na(d$death_day) & d$death_day <= horizon

compare <- function(i, j) {  # +1 if patient i is better than patient j, -1 worse, 0 tie
  if (died[i] && died[j]) return(sign(d$death_day[i] - d$death_day[j]))
  if (died[i]) return(-1)
  if (died[j]) return(1)
  sign(d$outcome[i] - d$outcome[j])
}
A <- which(d$arm == "act")
R <- which(d$arm == "ctl")
m <- length(A); n <- length(R)
S <- matrix(0, m, n)
for (a in seq_len(m)) for (r in seq_len(n)) S[a, r] <- compare(A[a], R[r])
W <- sum(S == 1); L <- sum(S == -1); Ti <- sum(S == 0)
pw <- W / (m * n); pl <- L / (m * n); pt <- Ti / (m * n)
wr <- pw / pl
theta <- pw + pt / 2
aw <- rowMeans(S == 1); al <- rowMeans(S == -1)
rw <- colMeans(S == 1); rl <- colMeans(S == -1)
vw <- var(aw) / m + var(rw) / n
vl <- var(al) / m + var(rl) / n
cwl <- cov(aw, al) / m + cov(rw, rl) / n
se_log_wr <- sqrt(vw / pw^2 + vl / pl^2 - 2 * cwl / (pw * pl))
ath <- (1 + aw - al) / 2; rth <- (1 + rw - rl) / 2
se_theta <- sqrt(var(ath) / m + var(rth) / n)
se_logit <- se_theta / (theta * (1 - theta))
z <- qnorm(0.975)
# Finkelstein-Schoenfeld by loops over the pooled sample
N <- nrow(d); all <- c(A, R)
U <- sapply(all, function(i) sum(sapply(all, function(j) if (i == j) 0 else compare(i, j))))
Tfs <- sum(U[seq_len(m)])
Vfs <- m * n / (N * (N - 1)) * sum(U^2)
zfs <- Tfs / sqrt(Vfs)
score <- ifelse(died, -1e6 + d$death_day, d$outcome)
wt <- suppressWarnings(wilcox.test(score[A], score[R], exact = FALSE, correct = FALSE))
out <- list(
  case = "worst_rank_case.csv (make_case.py), horizon 28, higher outcome better",
  wins = W, losses = L, ties = Ti, n_active = m, n_reference = n,
  win_ratio = wr, log_win_ratio_se = se_log_wr,
  win_ratio_ci = exp(log(wr) + c(-1, 1) * z * se_log_wr),
  theta = theta, theta_se = se_theta, mw_odds = theta / (1 - theta), logit_theta_se = se_logit,
  mw_odds_ci = exp(log(theta / (1 - theta)) + c(-1, 1) * z * se_logit),
  net_benefit = pw - pl,
  fs_statistic = Tfs, fs_variance = Vfs, fs_z = zfs, fs_p_value = 2 * pnorm(-abs(zfs)),
  wilcox_W = unname(wt$statistic), wilcox_p_value = wt$p.value,
  session = list(R = R.version.string)
)
jsonlite::write_json(out, out_path, digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", out_path, "\n")
